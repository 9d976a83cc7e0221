"""A classification's counts, the tallies that carry them, and how a tally that died is taken over (issue 23)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.unit.test_classification import NOW, RULES, profile
from touchpoints.classification.classify import ProfileFacts
from touchpoints.classification.counts import (
    AgeCell,
    Fate,
    MoveCell,
    StateCell,
    Tally,
    TallyKind,
    Token,
    TouchpointCell,
    decode,
    encode,
    of_write,
    total,
)
from touchpoints.classification.funnel import Cause
from touchpoints.classification.service import ClassificationWrite, ClassifierService, Outcome
from touchpoints.items import counter as counter_item

DAY = date(2026, 11, 20)
WEB = Cause("web", "sign_up")


def signed_up() -> dict[str, Any]:
    """A web sign-up's revision as ingestion wrote it, not classified yet."""
    return profile({"email": 1}, visit=1, last_trace_days=1, last_channel="web", last_action="sign_up")


def test_parked_counts_read_back_as_written_negative_counts_included():
    counts = Counter(
        {
            StateCell("A", "web"): 1,
            StateCell("G", "web"): -1,
            MoveCell(DAY, "G", "A", "web", "ticket_registration"): 1,
            TouchpointCell(DAY, "field.email", "web", "ticket_registration"): 1,
            AgeCell(DAY - timedelta(days=400), "email"): -1,
            AgeCell(DAY, "family_name"): 0,
        }
    )
    token, back = decode(encode("s123.abc", counts))
    assert token == "s123.abc"
    assert back == +counts | {StateCell("G", "web"): -1, AgeCell(DAY - timedelta(days=400), "email"): -1}
    assert "@" not in encode("s123.abc", counts)  # names and days only


def test_sums_keep_the_negative_counts_and_drop_the_zeros():
    assert total({StateCell("A", "web"): 1}, {StateCell("A", "web"): -1, StateCell("G", "web"): -1}) == {
        StateCell("G", "web"): -1
    }


def test_a_token_says_its_kind_and_when_its_invocation_is_over_for_sure():
    token = Token.new(TallyKind.PARKED, NOW)
    parsed = Token.parse(token.value)
    assert parsed == token and parsed.kind is TallyKind.PARKED
    assert not token.over(NOW + timedelta(seconds=10)) and token.over(NOW + timedelta(minutes=1))
    assert Token.parse("not a token") is None and Token.parse("") is None


def test_a_touchpoints_counts_are_the_state_it_moves_the_move_and_what_it_confirmed():
    service = ClassifierService(FakeStore(), RULES, clock=lambda: NOW)
    write = service._write(ProfileFacts.from_item(signed_up()), NOW, WEB, None)
    counts = of_write(write)
    assert counts[StateCell(write.result.state.value, "web")] == 1
    assert counts[MoveCell(NOW.date(), "none", write.result.state.value, "web", "sign_up")] == 1
    assert counts[TouchpointCell(NOW.date(), counter_item.TOUCHPOINTS, "web", "sign_up")] == 1
    assert counts[AgeCell((NOW - timedelta(days=1)).date(), "email")] == 1


# The service's handling of other tallies, against a store that keeps one profile and the tallies' fates.


class FakeStore:
    """One profile, written only when the write's conditions hold; tallies' fates as recorded."""

    def __init__(self, item: dict[str, Any] | None = None, fates: dict[str, Fate] | None = None) -> None:
        self.item = item
        self.fates = dict(fates or {})
        self.writes: list[ClassificationWrite] = []
        self.retags: list[tuple[str, str]] = []

    def save(self, write: ClassificationWrite) -> bool:
        self.writes.append(write)
        item = self.item
        assert item is not None
        holds = (
            int(item["version"]) == write.expected_version
            and (int(item.get("classified_version") or -1), item.get("rules_version"))
            != (write.expected_version, write.result.rules_version)
            and item.get("counts_by") == write.counts_by_seen
            and item.get("counts_pending") == write.pending_seen
        )
        if holds:
            item.update(
                state=write.result.state.value,
                classified_version=write.expected_version,
                classified_consent_version=write.expected_consent_version,
                rules_version=write.result.rules_version,
                classified_at=write.classified_at.isoformat(),
                counted_state=write.result.state.value,
            )
            for name, value in (("counts_by", write.counts_by), ("counts_pending", write.pending)):
                if value is None:
                    item.pop(name, None)
                else:
                    item[name] = value
        return holds

    def load(self, subject_id: str) -> dict[str, Any] | None:
        return None if self.item is None else dict(self.item)

    def retag(self, subject_id: str, counted_by: str, now_by: str) -> bool:
        assert self.item is not None
        if self.item.get("counts_by") != counted_by:
            return False
        self.item["counts_by"] = now_by
        self.retags.append((counted_by, now_by))
        return True

    def fate(self, token: str, abort: bool) -> Fate:
        fate = self.fates.get(token, Fate.OPEN)
        if fate is Fate.OPEN and abort:
            fate = self.fates[token] = Fate.ABORTED
        return fate


def stream_tally(at: datetime = NOW) -> Tally:
    return Tally.open(TallyKind.STREAM, at + timedelta(minutes=1))


def classified_by(tally: Tally, store: FakeStore, image: dict[str, Any], at: datetime) -> Counter[Any]:
    """Classify `image` as the tally's invocation did at `at`; what it counted."""
    result = ClassifierService(store, RULES, clock=lambda: at).handle(image, tally)
    assert result.outcome in (Outcome.CHANGED, Outcome.REFRESHED)
    return tally.taken()


class TestATallyThatDied:
    def test_the_retry_of_its_record_counts_what_it_classified_at_its_time_once(self):
        image = signed_up()
        store = FakeStore(dict(image))
        dead = stream_tally()
        counted = classified_by(dead, store, image, NOW)  # written; then the invocation died before committing
        assert store.item is not None and store.item["counts_by"] == dead.token.value

        retry = stream_tally(NOW + timedelta(hours=1))
        later = ClassifierService(store, RULES, clock=lambda: NOW + timedelta(hours=1))
        assert later.handle(image, retry).outcome is Outcome.CURRENT
        assert retry.taken() == counted  # the same cells, on the day it was classified, not the retry's
        assert store.fates[dead.token.value] is Fate.ABORTED
        assert later.handle(image, retry).outcome is Outcome.CURRENT  # a second replay takes nothing more
        assert retry.taken() == counted and len(store.retags) == 1

    def test_a_replay_of_a_record_its_tally_committed_counts_nothing(self):
        image = signed_up()
        store = FakeStore(dict(image))
        first = stream_tally()
        classified_by(first, store, image, NOW)
        store.fates[first.token.value] = Fate.COMMITTED
        retry = stream_tally()
        assert ClassifierService(store, RULES, clock=lambda: NOW).handle(image, retry).outcome is Outcome.CURRENT
        assert retry.taken() == {} and store.retags == []


class TestParkedCounts:
    """Counts a sweep parked on the profile, met by the profile's next classification from the stream."""

    @pytest.mark.parametrize(
        ("fate", "deadline", "taken", "left"),
        [
            (Fate.COMMITTED, NOW, False, False),  # counted by its sweep: dropped from the profile
            (Fate.ABORTED, NOW, True, True),  # never counted: taken over (and kept until this tally commits)
            (Fate.OPEN, NOW - timedelta(hours=1), True, True),  # its sweep died: aborted, then taken over
            (Fate.OPEN, NOW + timedelta(minutes=5), False, True),  # its sweep may still commit: left alone
        ],
    )
    def test_they_are_dropped_taken_over_or_left(self, fate, deadline, taken, left):
        sweep = Token.new(TallyKind.PARKED, deadline)
        parked = Counter({MoveCell(DAY, "A", "B", "time", "reclassification"): 1})
        image = signed_up() | {"counts_pending": encode(sweep.value, parked)}
        store = FakeStore(dict(image), {sweep.value: fate})
        tally = stream_tally()
        counted = classified_by(tally, store, image, NOW)
        assert (counted[MoveCell(DAY, "A", "B", "time", "reclassification")] == 1) is taken
        assert store.item is not None and ("counts_pending" in store.item) is left
        if taken:
            assert decode(store.item["counts_pending"])[0] == tally.token.value

    def test_a_sweep_leaves_a_profile_whose_stream_batch_is_still_open(self):
        item = profile({"email": 400}, visit=1, last_trace_days=100) | {
            "state": "A",
            "counted_state": "A",
            "classified_version": 3,
            "classified_consent_version": 1,
            "rules_version": RULES.version,
            "reclassify_at": (NOW - timedelta(days=1)).isoformat(),
            "counts_by": stream_tally().token.value,
        }
        store = FakeStore(dict(item))
        sweep = Tally.open(TallyKind.PARKED, NOW + timedelta(minutes=15))
        result = ClassifierService(store, RULES, clock=lambda: NOW).reclassify_due(item, sweep)
        assert result.outcome is Outcome.STALE and store.writes == []
        assert store.fates == {}  # nothing aborted: only the retry of that batch's record can count it
