"""Audiences per program, the pure part: who is reachable (as contact decisions decide), the summary kept on the
profile, the query's names and the cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from touchpoints.classification.audience import (
    AudienceQuery,
    AudienceRules,
    audience_page,
    audience_query,
    decode,
    decode_cursor,
    encode,
    encode_cursor,
)
from touchpoints.consent import ConsentRecord
from touchpoints.contact.decide import DecisionRequest, PersonFacts, PersonStatus, decide
from touchpoints.errors import InvalidTouchpoint
from touchpoints.items import audience as audience_item

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
RULES = AudienceRules.load()


def consent(granted: bool) -> ConsentRecord:
    return ConsentRecord(granted, NOW, "web", "1")


def test_reach_is_what_contact_decisions_would_not_refuse_for_good():
    cases = [
        ({"marketing:all": consent(True)}, frozenset({"email", "push_token"})),
        ({"marketing:all": consent(True), "marketing:email": consent(False)}, frozenset({"email", "phone"})),
        ({}, frozenset({"email"})),
        ({"marketing:all": consent(True)}, frozenset()),
    ]
    for consents, fields in cases:
        reach = RULES.reach(consents, fields, NOW)
        person = PersonFacts(PersonStatus.ACTIVE, consents, fields)
        for channel in RULES.channels:
            for purpose in RULES.purposes:
                reason = decide(
                    person, DecisionRequest(channel, purpose, "c"), NOW, RULES.contact, RULES.channel_fields
                )
                refused = reason.reason is not None and reason.reason.value in (
                    "no_consent",
                    "not_contactable_on_channel",
                )
                assert (f"{channel}:{purpose}" in reach) is not refused, (consents, fields, channel, purpose)


def test_a_person_reachable_nowhere_is_in_no_audience_and_a_reachable_one_in_each_recommended():
    assert RULES.membership(["ticket_registration"], {}, frozenset(), NOW) == {}
    assert RULES.membership([], {"marketing:all": consent(True)}, frozenset({"email"}), NOW) == {}
    members = RULES.membership(["loyalty", "data_update"], {"marketing:all": consent(True)}, frozenset({"email"}), NOW)
    assert set(members) == {"loyalty", "data_update"} and "email:marketing" in members["loyalty"]


def test_the_summary_tells_every_change_and_reads_back():
    one = {"loyalty": frozenset({"email:marketing", "email:service"})}
    assert decode(encode(one)) == one
    assert encode(one) != encode({"loyalty": frozenset({"email:service"})})
    assert encode({}) == "" and decode(None) == {} and decode("") == {}
    assert encode({"b": frozenset({"x:y"}), "a": frozenset({"x:y"})}) == "a=x:y;b=x:y"  # order-free


@pytest.mark.parametrize(
    ("program", "channel", "purpose", "code"),
    [
        ("nope", "email", "marketing", "unknown_program"),
        ("loyalty", "web", "marketing", "unknown_channel"),
        ("loyalty", "email", "spam", "unknown_purpose"),
    ],
)
def test_unknown_names_are_refused_with_their_code(program, channel, purpose, code):
    with pytest.raises(InvalidTouchpoint) as refused:
        audience_query(RULES, program, channel, purpose)
    assert [problem.code for problem in refused.value.problems] == [code]


def test_the_cursor_goes_back_to_the_same_query_only():
    query = AudienceQuery("loyalty", "email", "marketing")
    positions = ("", None, f"sub_{1:032x}", "", "", "", None, "")
    cursor = encode_cursor(query, positions)
    assert cursor is not None and decode_cursor(query, cursor) == positions
    assert encode_cursor(query, (None,) * audience_item.SHARDS) is None
    for bad in ("x", cursor[:-3], encode_cursor(query, ("'; drop", *positions[1:]))):
        with pytest.raises(InvalidTouchpoint):
            decode_cursor(query, bad)
    with pytest.raises(InvalidTouchpoint):
        decode_cursor(AudienceQuery("loyalty", "sms", "marketing"), cursor)


class Reader:
    def __init__(self) -> None:
        self.asked: list[int] = []
        self.pulls: list[tuple[str, str, int]] = []

    def members(self, query, positions, per_shard):
        self.asked.append(per_shard)
        ids = [f"sub_{n:032x}" for n in range(per_shard)]
        return ids, tuple(None for _ in positions)

    def record_pull(self, day, program, campaign_id, profiles):
        self.pulls.append((program, campaign_id, profiles))


def test_a_page_asks_each_shard_for_its_share_and_counts_a_campaigns_pull():
    reader = Reader()
    query = AudienceQuery("loyalty", "email", "marketing")
    page = audience_page(reader, query, None, limit=1000, campaign_id="buen-fin", clock=lambda: NOW)
    assert reader.asked == [1000 // audience_item.SHARDS]
    assert page.next_cursor is None and reader.pulls == [("loyalty", "buen-fin", 125)]
    audience_page(reader, query, None, limit=64, clock=lambda: NOW)
    assert reader.asked[-1] == 8 and len(reader.pulls) == 1  # no campaign: nothing counted
