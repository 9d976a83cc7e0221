"""Profile classification: which of Identity, Contactability and Traceability a profile holds,
its state (A-G, U), freshness, and the programs that would move it toward A."""

from touchpoints.classification.classify import Classification, MalformedProfile, ProfileFacts, classify
from touchpoints.classification.funnel import Cause, Departure, FunnelReport, Move
from touchpoints.classification.rules import ClassificationRules, Dimension, State, load_rules, parse_rules
from touchpoints.classification.service import (
    ClassificationStore,
    ClassificationWrite,
    ClassifierService,
    ClassifyResult,
    CountExistingResult,
    FunnelRangeInvalid,
    Outcome,
    StateReport,
    data_quality_report,
    funnel_report,
    state_report,
)

__all__ = [
    "Cause",
    "Classification",
    "ClassificationRules",
    "ClassificationStore",
    "ClassificationWrite",
    "ClassifierService",
    "ClassifyResult",
    "CountExistingResult",
    "Departure",
    "Dimension",
    "FunnelRangeInvalid",
    "FunnelReport",
    "MalformedProfile",
    "Move",
    "Outcome",
    "ProfileFacts",
    "State",
    "StateReport",
    "classify",
    "data_quality_report",
    "funnel_report",
    "load_rules",
    "parse_rules",
    "state_report",
]
