"""The migration funnel's pure parts: what moved a profile, when a change is a departure, the counter names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from touchpoints.classification.classify import ProfileFacts, classify
from touchpoints.classification.funnel import DELETED, ERASURE, MERGE, Cause, FunnelReport, cause_of, departure
from touchpoints.classification.rules import State, load_rules
from touchpoints.classification.service import ClassificationWrite
from touchpoints.items import counter as counter_item

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def image(**extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "subject_id": "sub_" + "1" * 32,
        "status": "active",
        "origin_channel": "store",
        "version": 2,
        "consent_version": 0,
        "trace_transactional": 1,
        "last_trace_at": NOW.isoformat(),
        "changed_by": "ingest",
        "last_channel": "web",
        "last_action": "ticket_registration",
    }
    item.update(extra)
    return item


class TestCause:
    def test_a_touchpoint_is_credited_with_its_channel_and_action(self):
        assert cause_of(ProfileFacts.from_item(image())) == Cause("web", "ticket_registration")

    def test_another_writer_is_credited_by_name(self):
        assert cause_of(ProfileFacts.from_item(image(changed_by="compliance"))) == Cause("compliance", "request")


class TestDeparture:
    def test_a_classified_profile_frozen_for_erasure_leaves_from_its_state(self):
        gone = departure(image(state="A", counted_state="A"), image(state="A", status="erasing"), NOW)
        assert gone is not None
        assert (gone.move.from_state, gone.move.to_state, gone.move.cause) == ("A", "gone", ERASURE)
        assert (gone.counted_state, gone.origin_channel, gone.move.day) == (State.A, "store", NOW.date())

    def test_merged_away_or_deleted(self):
        merged = departure(image(state="D"), image(state="D", merged_into="sub_" + "2" * 32), NOW)
        deleted = departure(image(state="G", counted_state="G"), None, NOW)
        assert merged is not None and merged.move.cause == MERGE and merged.counted_state is None
        assert deleted is not None and deleted.move.cause == DELETED

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            (image(state="A"), image(state="B")),  # still active: a classification, not a departure
            (image(), image(status="erasing")),  # never classified: counted nowhere
            (image(state="A", status="erasing"), None),  # left when it was frozen
            (image(state="A", merged_into="sub_x"), image(state="A", merged_into="sub_x", status="erasing")),
            ({}, image(state="A")),  # an INSERT
        ],
    )
    def test_what_is_not_a_departure(self, old, new):
        assert departure(old, new, NOW) is None


class TestClassificationWrite:
    def write(self, expected: State | None, counted: State | None, **item: Any) -> ClassificationWrite:
        facts = ProfileFacts.from_item(image(**item))
        return ClassificationWrite(
            subject_id=facts.subject_id,
            origin_channel=facts.origin_channel,
            expected_version=facts.version,
            expected_consent_version=facts.consent_version,
            expected_state=expected,
            result=classify(facts, load_rules(), NOW),
            classified_at=NOW,
            counted_state=counted,
            cause=cause_of(facts),
        )

    def test_a_new_profile_moves_from_none(self):
        write = self.write(None, None)
        assert write.moves_the_counts and write.move is not None
        assert (write.move.from_state, write.move.to_state) == ("none", "G")

    def test_the_same_state_counted_already_moves_nothing(self):
        write = self.write(State.G, State.G)
        assert not write.moves_the_counts and write.move is None

    def test_a_profile_classified_before_the_counters_is_counted_without_a_move(self):
        write = self.write(State.G, None)
        assert write.moves_the_counts and write.move is None


class TestCounterNames:
    @pytest.mark.parametrize("move", [("G", "A", "web", "ticket_registration"), ("none", "U", "email", "email_click")])
    def test_a_funnel_counter_reads_back_as_the_move_it_counts(self, move):
        assert counter_item.parse_funnel_counter(counter_item.funnel_counter(*move)) == move

    def test_keys_and_other_counters_are_not_read_as_moves(self):
        assert counter_item.parse_funnel_counter("pk") is None
        assert counter_item.parse_funnel_counter(counter_item.distribution_counter("A", "web")) is None
        assert counter_item.parse_distribution_counter("entity") is None


def test_the_funnel_report_lists_days_with_moves_and_sums_the_range():
    counts = {
        (date(2026, 11, 29), "G", "A", "web", "ticket_registration"): 2,
        (date(2026, 11, 30), "G", "A", "web", "ticket_registration"): 1,
        (date(2026, 11, 30), "none", "G", "store", "purchase"): 0,
    }
    body = FunnelReport(date(2026, 11, 1), date(2026, 11, 30), NOW, counts).as_dict()
    assert [day["day"] for day in body["days"]] == ["2026-11-29", "2026-11-30"]
    assert body["totals"] == [
        {"from": "G", "to": "A", "channel": "web", "action": "ticket_registration", "profiles": 3}
    ]
