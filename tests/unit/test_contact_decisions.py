"""The contact decision, pure: every reason code, when contact will be allowed, quiet hours, caps, exemptions.

Given/When/Then in each test; the policy is the shipped policies/contact.yaml unless a test says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from touchpoints.classification.rules import load_rules
from touchpoints.consent import ConsentRecord
from touchpoints.contact.decide import (
    ContactEntry,
    ContactHistory,
    DecisionRequest,
    PersonFacts,
    PersonStatus,
    Reason,
    decide,
    quiet_until,
)
from touchpoints.contact.policy import QuietHours, contact_fields, load_contact_policy, parse_contact_policy

POLICY = load_contact_policy()
FIELDS = contact_fields(load_rules())
MEXICO = ZoneInfo("America/Mexico_City")
# Noon in Mexico City (UTC-6, no daylight saving since 2022): outside the quiet hours.
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=MEXICO).astimezone(UTC)


def consent(granted: bool = True) -> ConsentRecord:
    return ConsentRecord(granted, NOON - timedelta(days=60), "web", "2026-11-01")


def person(
    consents: dict[str, ConsentRecord] | None = None,
    fields: frozenset[str] = frozenset({"email", "phone", "push_token", "whatsapp"}),
    sent: tuple[ContactEntry, ...] = (),
    reservations: tuple[ContactEntry, ...] = (),
) -> PersonFacts:
    return PersonFacts(
        PersonStatus.ACTIVE,
        {"marketing:all": consent()} if consents is None else consents,
        fields,
        ContactHistory(1, sent, reservations),
    )


def sent(hours_ago: float, channel: str = "email", purpose: str = "marketing", now: datetime = NOON) -> ContactEntry:
    return ContactEntry(now - timedelta(hours=hours_ago), channel, purpose, "cmp-1", kind=channel)


def ask(channel: str = "email", purpose: str = "marketing", time_zone: str | None = None) -> DecisionRequest:
    return DecisionRequest(channel, purpose, "cmp-2", time_zone)


def test_a_consenting_reachable_person_never_contacted_is_allowed():
    decision = decide(person(), ask(), NOON, POLICY, FIELDS)
    assert decision.allowed and decision.reason is None and decision.allowed_at is None


def test_an_erased_person_is_suppressed_and_an_unknown_one_has_no_consent():
    assert decide(PersonFacts(PersonStatus.SUPPRESSED), ask(), NOON, POLICY, FIELDS).reason is Reason.SUPPRESSED
    unknown = decide(PersonFacts(PersonStatus.UNKNOWN), ask(), NOON, POLICY, FIELDS)
    assert (unknown.reason, unknown.allowed_at) == (Reason.NO_CONSENT, None)


def test_consent_is_read_per_channel_as_at_ingestion():
    # Given marketing granted on all channels but withdrawn on SMS (an opt-out)
    facts = person({"marketing:all": consent(), "marketing:sms": consent(False)})
    # Then SMS has no consent, email has
    assert decide(facts, ask("sms"), NOON, POLICY, FIELDS).reason is Reason.NO_CONSENT
    assert decide(facts, ask("email"), NOON, POLICY, FIELDS).allowed
    # and someone who granted only personalization may not get marketing anywhere
    assert decide(person({"personalization:all": consent()}), ask(), NOON, POLICY, FIELDS).reason is Reason.NO_CONSENT


def test_without_a_field_that_reaches_the_channel_the_person_is_not_contactable_there():
    facts = person(fields=frozenset({"email", "postal_address"}))
    for channel in ("sms", "push", "contact-center"):
        decision = decide(facts, ask(channel), NOON, POLICY, FIELDS)
        assert (decision.reason, decision.allowed_at) == (Reason.NOT_CONTACTABLE_ON_CHANNEL, None), channel


def test_the_cross_channel_cap_says_when_the_oldest_contact_leaves_the_window():
    # Given three marketing contacts in 7 days, on three channels (the cap is 3 in 7 days)
    history = (sent(24 * 6, "email"), sent(24 * 3, "sms"), sent(2, "push"))
    decision = decide(person(sent=history), ask("email"), NOON, POLICY, FIELDS)
    # Then a fourth is refused until the oldest is 7 days old: tomorrow at the same time, outside quiet hours
    assert decision.reason is Reason.FREQUENCY_CAP
    assert decision.allowed_at == NOON + timedelta(days=1)


def test_the_per_channel_cap_holds_one_sms_a_day_while_email_is_still_allowed():
    # Given an SMS at 09:00 today (local)
    facts = person(sent=(sent(3, "sms"),))
    sms = decide(facts, ask("sms"), NOON, POLICY, FIELDS)
    assert sms.reason is Reason.FREQUENCY_CAP and sms.allowed_at == NOON + timedelta(hours=21)
    assert decide(facts, ask("email"), NOON, POLICY, FIELDS).allowed


def test_a_live_reservation_counts_and_an_expired_one_does_not():
    five_ago, hour_ago = NOON - timedelta(minutes=5), NOON - timedelta(hours=1)
    live = ContactEntry(
        five_ago, "sms", "marketing", "cmp-1", reservation_id="rsv_1", expires_at=NOON + timedelta(minutes=25)
    )
    expired = ContactEntry(
        hour_ago, "sms", "marketing", "cmp-1", reservation_id="rsv_2", expires_at=NOON - timedelta(minutes=30)
    )
    # Given a reservation for an SMS five minutes ago: a second SMS is refused until it expires unused
    held = decide(person(reservations=(live,)), ask("sms"), NOON, POLICY, FIELDS)
    assert (held.reason, held.allowed_at) == (Reason.FREQUENCY_CAP, NOON + timedelta(minutes=25))
    # Given one that expired unused: nothing is held
    assert decide(person(reservations=(expired,)), ask("sms"), NOON, POLICY, FIELDS).allowed
    # and the counter drops it on its next write
    assert ContactHistory(3, (), (live, expired)).pruned(NOON, POLICY.history).reservations == (live,)


def test_quiet_hours_cross_midnight_in_the_customers_time_zone():
    # Given 23:30 in Mexico City (quiet from 21:00 to 08:00)
    late = datetime(2026, 11, 30, 23, 30, tzinfo=MEXICO).astimezone(UTC)
    decision = decide(person(), ask(), late, POLICY, FIELDS)
    # Then not now, but at 08:00 the next morning, local time
    assert decision.reason is Reason.QUIET_HOURS
    assert decision.allowed_at == datetime(2026, 12, 1, 8, 0, tzinfo=MEXICO)
    # and at 03:00 (after midnight) it is the same morning
    early = datetime(2026, 12, 1, 3, 0, tzinfo=MEXICO).astimezone(UTC)
    assert decide(person(), ask(), early, POLICY, FIELDS).allowed_at == datetime(2026, 12, 1, 8, 0, tzinfo=MEXICO)
    # and the same instant is 06:30 in Madrid: quiet there until 08:00 Madrid time
    madrid = decide(person(), ask(time_zone="Europe/Madrid"), late, POLICY, FIELDS)
    assert madrid.reason is Reason.QUIET_HOURS
    assert madrid.allowed_at == datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    tokyo = decide(person(), ask(time_zone="Asia/Tokyo"), late, POLICY, FIELDS)  # 14:30 in Tokyo
    assert tokyo.allowed


def test_a_cap_that_lifts_during_the_night_is_answered_with_the_end_of_the_quiet_hours():
    # Given one SMS at 22:00 yesterday: the daily SMS cap lifts at 22:00 today, inside the quiet hours
    evening = datetime(2026, 11, 30, 20, 0, tzinfo=MEXICO).astimezone(UTC)
    yesterday = ContactEntry(evening - timedelta(hours=22), "sms", "marketing", "cmp-1", kind="sms")
    decision = decide(person(sent=(yesterday,)), ask("sms"), evening, POLICY, FIELDS)
    # Then the reason is the cap, and the time is tomorrow 08:00 local: the first moment both allow
    assert decision.reason is Reason.FREQUENCY_CAP
    assert decision.allowed_at == datetime(2026, 12, 1, 8, 0, tzinfo=MEXICO)


def test_service_messages_are_exempt_from_consent_caps_and_quiet_hours_but_not_from_erasure_or_reach():
    capped = person(consents={}, sent=tuple(sent(h, "sms") for h in (1, 2, 3, 4)))
    night = datetime(2026, 11, 30, 23, 30, tzinfo=MEXICO).astimezone(UTC)
    assert decide(capped, ask("sms", "service"), night, POLICY, FIELDS).allowed
    assert decide(PersonFacts(PersonStatus.SUPPRESSED), ask("sms", "service"), NOON, POLICY, FIELDS).reason is (
        Reason.SUPPRESSED
    )
    no_phone = person(fields=frozenset({"email"}))
    assert decide(no_phone, ask("sms", "service"), NOON, POLICY, FIELDS).reason is Reason.NOT_CONTACTABLE_ON_CHANNEL


def test_service_contacts_do_not_count_against_marketing_caps():
    history = tuple(sent(h, "email", "service") for h in (1, 2, 3, 4, 5))
    assert decide(person(sent=history), ask("email"), NOON, POLICY, FIELDS).allowed


def test_quiet_hours_within_one_day_and_across_a_daylight_saving_change():
    # A window within one day (13:00-15:00): inside it, quiet until 15:00; after it, not quiet
    siesta = QuietHours(start=time(13, 0), end=time(15, 0))
    lunch = datetime(2026, 11, 30, 14, 0, tzinfo=MEXICO)
    assert quiet_until(lunch, siesta, MEXICO) == datetime(2026, 11, 30, 15, 0, tzinfo=MEXICO)
    assert quiet_until(lunch + timedelta(hours=2), siesta, MEXICO) == lunch + timedelta(hours=2)
    new_york = ZoneInfo("America/New_York")
    # The night DST ends in New York (1 Nov 2026): 23:00 EDT -> 08:00 EST the next morning
    before = datetime(2026, 10, 31, 23, 0, tzinfo=new_york)
    assert quiet_until(before, POLICY.quiet_hours, new_york) == datetime(2026, 11, 1, 8, 0, tzinfo=new_york)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("default_time_zone: America/Mexico_City", "default_time_zone: Mars/Olympus"),
        ("  marketing:\n    consent: marketing", "  marketing:\n    consent: telepathy"),
        # the classifier's contactability would no longer mean what a marketing decision asks
        ("  marketing:\n    consent: marketing", "  marketing:\n    consent: analytics"),
        ("  sms: [sms]", "  sms: [sms]\n  web: [banner]"),
        ("      - {max: 8, days: 30}", "      - {max: 8, days: 90}"),
    ],
)
def test_a_policy_that_cannot_be_applied_fails_at_load(edit, problem):
    from importlib import resources

    text = resources.files("touchpoints.policies").joinpath("contact.yaml").read_text()
    assert edit in text
    with pytest.raises(ValueError):
        parse_contact_policy(text.replace(edit, problem))


def test_the_classifier_and_the_decisions_read_contactability_the_same_way():
    from touchpoints.classification.classify import ProfileFacts, classify
    from touchpoints.classification.rules import Dimension

    held = frozenset({"email", "phone", "push_token", "whatsapp"})
    sending = [c.value for c in POLICY.channels]

    def profile(consents: dict[str, ConsentRecord]) -> ProfileFacts:
        return ProfileFacts("sub_x", "active", "web", 1, 1, dict.fromkeys(held, NOON), consents, {}, None)

    # Given a person capped out on every sending channel today
    capped = person(sent=tuple(sent(h, c) for h, c in ((1, "email"), (2, "sms"), (3, "push"))))
    refused = {c: decide(capped, ask(c), NOON, POLICY, FIELDS).reason for c in sending}
    assert set(refused.values()) == {Reason.FREQUENCY_CAP}
    # Then the classifier still counts them contactable on every one: a cap says "not now", not "never"
    reachable = classify(profile({"marketing:all": consent()}), load_rules(), NOON)
    assert Dimension.CONTACTABILITY in reachable.dimensions
    assert set(sending) <= set(reachable.contact_channels)

    # Given a person holding every contact field but no consented channel
    unconsented = {c: decide(person({}), ask(c), NOON, POLICY, FIELDS).reason for c in sending}
    assert set(unconsented.values()) == {Reason.NO_CONSENT}
    # Then the classifier does not count them contactable, and recommends what fills C (a subscription...)
    unreachable = classify(profile({"marketing:all": consent(False)}), load_rules(), NOON)
    assert Dimension.CONTACTABILITY in unreachable.missing and unreachable.contact_channels == ()
    assert "subscription" in unreachable.scores
