"""The consent policy file and its application, without AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchpoints.consent import (
    ConsentPolicy,
    ConsentRecord,
    TraceMode,
    check_declared,
    is_allowed,
    load_policy,
    plan_storage,
)
from touchpoints.errors import InvalidTouchpoint
from touchpoints.model import Channel, ConsentGrant, IdentifierKind, PersonalField, Touchpoint, Trace, TraceKind

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
POLICY = load_policy()


def touchpoint(kind: TraceKind | None = TraceKind.VISIT, grants=(), declared=True, channel=Channel.WEB) -> Touchpoint:
    return Touchpoint(
        channel=channel,
        event_id="e1",
        occurred_at=NOW,
        identifiers={IdentifierKind.EMAIL: "ana@example.mx"},
        personal_data={PersonalField.GIVEN_NAME: "Ana", PersonalField.EMAIL: "ana@example.mx"},
        trace=Trace(kind, "page_view", {"page_path": "/"}) if kind else None,
        consents=tuple(grants),
        consent_declared=declared,
    )


def grant(purpose: str, scope: str = "all", granted: bool = True, minutes: int = 0) -> ConsentGrant:
    return ConsentGrant(purpose, scope, granted, NOW + timedelta(minutes=minutes))


def test_the_shipped_policy_loads_and_names_its_version():
    assert POLICY.version == "2026-11-30"
    assert POLICY.retention_days(TraceKind.TRANSACTIONAL) == 1825
    assert POLICY.retention_days(TraceKind.VISIT) == 395


def test_a_policy_naming_an_unknown_purpose_is_refused():
    raw = POLICY.model_dump()
    raw["categories"]["identity"]["allowed_by"] = ["profiling"]
    with pytest.raises(ValueError, match="unknown purposes"):
        ConsentPolicy.model_validate(raw)


def test_nothing_personal_is_kept_without_a_yes_on_a_visit():
    plan = plan_storage(touchpoint(), {}, POLICY)
    assert plan.personal_data == {}
    assert set(plan.dropped_fields) == {PersonalField.GIVEN_NAME, PersonalField.EMAIL}
    assert plan.trace_mode is TraceMode.MINIMIZED


def test_personalization_keeps_identity_and_contact_and_analytics_keeps_visit_details():
    plan = plan_storage(touchpoint(grants=[grant("personalization"), grant("analytics")]), {}, POLICY)
    assert set(plan.personal_data) == {PersonalField.GIVEN_NAME, PersonalField.EMAIL}
    assert plan.trace_mode is TraceMode.FULL


def test_marketing_consent_keeps_contact_but_not_identity():
    plan = plan_storage(touchpoint(grants=[grant("marketing", "web")]), {}, POLICY)
    assert set(plan.personal_data) == {PersonalField.EMAIL}


def test_a_transaction_implies_the_service_purpose():
    plan = plan_storage(touchpoint(TraceKind.TRANSACTIONAL), {}, POLICY)
    assert set(plan.personal_data) == {PersonalField.GIVEN_NAME, PersonalField.EMAIL}
    assert plan.trace_mode is TraceMode.FULL
    assert plan.retention_days == 1825


def test_a_channel_answer_overrides_the_all_channels_answer():
    consents = {
        "marketing:all": ConsentRecord(True, NOW, "web", "v"),
        "marketing:sms": ConsentRecord(False, NOW, "sms", "v"),
    }
    assert is_allowed("marketing", "email", consents)
    assert not is_allowed("marketing", "sms", consents)
    assert not is_allowed("analytics", "web", consents)


def test_stored_consent_applies_and_an_older_answer_is_ignored():
    stored = {"personalization:all": ConsentRecord(False, NOW, "compliance", "v")}
    plan = plan_storage(touchpoint(grants=[grant("personalization", minutes=-5)]), stored, POLICY)
    assert plan.personal_data == {}
    assert plan.consent_changes == ()
    newer = plan_storage(touchpoint(grants=[grant("personalization", minutes=5)]), stored, POLICY)
    assert PersonalField.GIVEN_NAME in newer.personal_data
    assert len(newer.consent_changes) == 1


def test_a_later_answer_equal_to_the_stored_one_is_reaffirmed_not_changed():
    stored = {
        "personalization:all": ConsentRecord(True, NOW, "web", POLICY.version),
        "marketing:all": ConsentRecord(True, NOW, "web", "an older policy"),
        "analytics:all": ConsentRecord(True, NOW, "web", POLICY.version, orderable=False),
    }
    grants = [grant("personalization", minutes=5), grant("marketing", minutes=5), grant("analytics", minutes=5)]
    plan = plan_storage(touchpoint(grants=grants), stored, POLICY)
    # the same yes under the same policy is evidence, not a change; under another policy, or stored before its time
    # was a number (a condition cannot order it), it is a change as before
    assert [g.key for g in plan.consent_reaffirmed] == ["personalization:all"]
    assert {g.key for g in plan.consent_changes} == {"marketing:all", "analytics:all"}
    # a different answer is a change, and so is a key the same touchpoint changes and then answers again
    no_then_yes = [grant("personalization", granted=False, minutes=5), grant("personalization", minutes=6)]
    again = plan_storage(touchpoint(grants=no_then_yes), stored, POLICY)
    assert again.consent_reaffirmed == () and [g.collected_at for g in again.consent_changes] == [
        NOW + timedelta(minutes=6)
    ]
    # and an older answer is neither
    older = plan_storage(touchpoint(grants=[grant("personalization", minutes=-5)]), stored, POLICY)
    assert older.consent_reaffirmed == older.consent_changes == ()


def test_personal_data_without_a_consent_block_or_with_an_unknown_purpose_is_refused():
    with pytest.raises(InvalidTouchpoint) as caught:
        check_declared(touchpoint(declared=False), POLICY)
    assert [p.code for p in caught.value.problems] == ["consent_required"]
    with pytest.raises(InvalidTouchpoint) as caught:
        check_declared(touchpoint(grants=[grant("resale"), grant("service")]), POLICY)
    assert [p.code for p in caught.value.problems] == ["unknown_purpose", "unknown_purpose"]
