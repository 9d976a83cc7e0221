"""Profile classification: which of Identity, Contactability and Traceability a profile holds,
its state (A-G, U), freshness, and the programs that would move it toward A.

Names are resolved on first use: a channel function needs only the rules, and importing the
classifier's service with them would cost its cold start ~20 ms."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Eager: the submodule `classify` would otherwise shadow the function of the same name once anything imports it.
from touchpoints.classification.classify import Classification, MalformedProfile, ProfileFacts, classify

if TYPE_CHECKING:
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

_HOMES = {
    "Cause": "touchpoints.classification.funnel",
    "ClassificationRules": "touchpoints.classification.rules",
    "ClassificationStore": "touchpoints.classification.service",
    "ClassificationWrite": "touchpoints.classification.service",
    "ClassifierService": "touchpoints.classification.service",
    "ClassifyResult": "touchpoints.classification.service",
    "CountExistingResult": "touchpoints.classification.service",
    "Departure": "touchpoints.classification.funnel",
    "Dimension": "touchpoints.classification.rules",
    "FunnelRangeInvalid": "touchpoints.classification.service",
    "FunnelReport": "touchpoints.classification.funnel",
    "Move": "touchpoints.classification.funnel",
    "Outcome": "touchpoints.classification.service",
    "State": "touchpoints.classification.rules",
    "StateReport": "touchpoints.classification.service",
    "data_quality_report": "touchpoints.classification.service",
    "funnel_report": "touchpoints.classification.service",
    "load_rules": "touchpoints.classification.rules",
    "parse_rules": "touchpoints.classification.rules",
    "state_report": "touchpoints.classification.service",
}


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
