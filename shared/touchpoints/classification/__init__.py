"""Profile classification: which of Identity, Contactability and Traceability a profile holds,
its state (A-G, U), freshness, and the programs that would move it toward A."""

from touchpoints.classification.classify import Classification, MalformedProfile, ProfileFacts, classify
from touchpoints.classification.rules import ClassificationRules, Dimension, State, load_rules, parse_rules
from touchpoints.classification.service import (
    ClassificationStore,
    ClassificationWrite,
    ClassifierService,
    ClassifyResult,
    Outcome,
    StateReport,
    state_report,
)

__all__ = [
    "Classification",
    "ClassificationRules",
    "ClassificationStore",
    "ClassificationWrite",
    "ClassifierService",
    "ClassifyResult",
    "Dimension",
    "MalformedProfile",
    "Outcome",
    "ProfileFacts",
    "State",
    "StateReport",
    "classify",
    "load_rules",
    "parse_rules",
    "state_report",
]
