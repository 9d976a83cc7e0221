"""Program attribution (issue 25): crediting a state move to the touchpoint's program and campaign and to the
programs that contacted the person within the policy's window, the policy itself, and the programs report."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.test_classification import NOW, RULES, profile
from tests.unit.test_counts import FakeStore, stream_tally
from touchpoints.channels.store import StoreTouchpoint
from touchpoints.classification.attribution import (
    AttributionPolicy,
    Contact,
    ContactCredit,
    ProgramsReport,
    credited,
    load_attribution_policy,
    more_complete,
    parse_attribution_policy,
)
from touchpoints.classification.counts import (
    ContactedMoveCell,
    MoveCell,
    ProgramMoveCell,
    decode,
    encode,
    of_contacts,
)
from touchpoints.classification.funnel import Cause, Move
from touchpoints.classification.service import ClassifierService, Outcome
from touchpoints.items import counter as counter_item

DAY = NOW.date()
POLICY = AttributionPolicy(version="t", attribution_days=14)


class TestTouchpointFields:
    def test_a_touchpoint_carries_a_known_program_and_campaign_and_an_unknown_program_is_refused_by_name(self):
        from tests import factories

        body = {**factories.store(None, folio="F-1"), "program": "ticket_registration", "campaign_id": "bf-2026"}
        touchpoint = StoreTouchpoint.model_validate(body).to_touchpoint()
        assert (touchpoint.program, touchpoint.campaign_id) == ("ticket_registration", "bf-2026")
        with pytest.raises(ValidationError) as refused:
            StoreTouchpoint.model_validate({**body, "program": "free_money"})
        assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(("program",), "unknown_program")]
        with pytest.raises(ValidationError):
            StoreTouchpoint.model_validate({**body, "campaign_id": "bf#2026"})  # `#` separates the counters' keys


class TestPolicy:
    def test_the_shipped_policy_loads(self):
        assert 0 < load_attribution_policy().attribution_days <= 366

    @pytest.mark.parametrize(
        "text",
        [
            "version: v\nattribution_days: -1\n",
            "version: v\nattribution_days: 367\n",
            "version: v\nattribution_days: 14\nwindow: 3\n",
            "attribution_days: 14\n",
            "version: v\nattribution_days: fourteen\n",
        ],
    )
    def test_a_policy_out_of_bounds_or_misspelt_is_refused_at_load(self, text):
        with pytest.raises(ValidationError):
            parse_attribution_policy(text)


class TestMoreComplete:
    @pytest.mark.parametrize(
        ("before", "after", "expected"),
        [
            ("G", "C", True),  # T -> I+T
            ("G", "A", True),
            ("none", "G", True),  # a new profile held nothing
            ("E", "B", True),
            ("D", "G", False),  # lost contactability
            ("C", "D", False),  # as many dimensions, not the same ones
            ("A", "gone", False),
            ("U", "U", False),
            ("G", "U", False),
        ],
    )
    def test_only_a_superset_of_dimensions_is_more_complete(self, before, after, expected):
        assert more_complete(before, after) is expected


class TestCredited:
    def test_each_program_and_campaign_in_the_window_is_credited_once_on_its_latest_contacts_channel(self):
        contacts = [
            Contact(NOW - timedelta(days=10), "email", "ticket_registration", "bf-2026"),
            Contact(NOW - timedelta(days=2), "sms", "ticket_registration", "bf-2026"),  # the latest: sms
            Contact(NOW - timedelta(days=1), "push", "loyalty", None),
            Contact(NOW - timedelta(days=15), "email", "digital_draw", "old"),  # out of the window
            Contact(NOW + timedelta(minutes=1), "email", "data_update", "later"),  # after the move
            Contact(NOW - timedelta(days=1), "email", None, "no-program"),  # no program: credits none
        ]
        assert credited(contacts, NOW, 14) == (
            ContactCredit("loyalty", None, "push"),
            ContactCredit("ticket_registration", "bf-2026", "sms"),
        )
        assert credited(contacts, NOW, 0) == ()


class TestCounts:
    def test_a_programs_move_is_the_funnels_move_split_by_program_and_campaign_and_reads_back(self):
        from touchpoints.classification.counts import _move

        cause = Cause("store", "ticket_registration", "ticket_registration", "bf-2026")
        assert cause == Cause("store", "ticket_registration")  # the touchpoint is its channel and action
        move = Move(DAY, "G", "C", cause)
        cell = _move(move)
        assert cell == ProgramMoveCell(DAY, "G", "C", "store", "ticket_registration", "ticket_registration", "bf-2026")
        assert _move(Move(DAY, "G", "C", Cause("store", "purchase"))) == MoveCell(DAY, "G", "C", "store", "purchase")
        credits = [ContactCredit("ticket_registration", "bf-2026", "email"), ContactCredit("loyalty", None, "sms")]
        counts = Counter({cell: 1}) + of_contacts(move, credits)
        assert of_contacts(move, credits) == {
            ContactedMoveCell(DAY, "G", "C", "ticket_registration", "bf-2026", "email"): 1,
            ContactedMoveCell(DAY, "G", "C", "loyalty", "", "sms"): 1,
        }
        assert decode(encode("s1.x", counts)) == ("s1.x", counts)  # parked on a profile and taken back whole
        assert of_contacts(Move(DAY, "D", "G", cause), credits) == {}  # a demotion is credited to no contact

    def test_the_funnel_reads_a_programs_item_as_its_channels_action_and_the_report_reads_its_program(self):
        sk = counter_item.program_action_sk("2026-11-20", "store", "ticket_registration", "ticket_registration", "")
        assert counter_item.parse_funnel_cell(sk, "G>C") == ("2026-11-20", "G", "C", "store", "ticket_registration")
        assert counter_item.parse_program_funnel_cell(sk, "G>C") == (
            "2026-11-20",
            "G",
            "C",
            "store",
            "ticket_registration",
            "ticket_registration",
            "",
        )
        plain = counter_item.day_action_sk("2026-11-20", "store", "purchase")
        assert counter_item.parse_program_funnel_cell(plain, "G>C") is None
        assert counter_item.parse_program_funnel_cell(sk, counter_item.applied_marker("s1.x")) is None
        contacted = counter_item.contacted_sk("2026-11-20", "loyalty", "bf", "email")
        assert counter_item.parse_contacted_cell(contacted, "G>A") == (
            "2026-11-20",
            "loyalty",
            "bf",
            "email",
            "G",
            "A",
        )


class ContactsStore(FakeStore):
    """FakeStore with a contact history, counting its reads."""

    def __init__(self, item: dict[str, Any], contacts: list[Contact]) -> None:
        super().__init__(item)
        self.history = contacts
        self.reads = 0

    def contacts(self, subject_id: str) -> list[Contact]:
        self.reads += 1
        return list(self.history)


def traced_g(**extra: Any) -> dict[str, Any]:
    """A profile classified G at revision 2, and its revision 3 by a ticket registration that named a program."""
    item = profile(
        {"given_name": 1.0, "family_name": 1.0},
        visit=1,
        last_trace_days=1,
        state="G",
        counted_state="G",
        classified_version=Decimal(2),
        classified_consent_version=Decimal(1),
        rules_version=RULES.version,
        last_channel="store",
        last_action="ticket_registration",
        last_program="ticket_registration",
        last_campaign="bf-2026",
    )
    item.update(extra)
    return item


class TestClassifierCredits:
    def test_a_move_up_is_credited_to_the_touchpoints_program_and_to_the_contacts_before_it_with_one_read(self):
        contacts = [
            Contact(NOW - timedelta(days=3), "email", "ticket_registration", "bf-2026"),
            Contact(NOW - timedelta(days=30), "sms", "loyalty", "old"),
        ]
        store = ContactsStore(traced_g(), contacts)
        tally = stream_tally()
        result = ClassifierService(store, RULES, clock=lambda: NOW, attribution=POLICY).handle(store.item, tally)
        assert result.outcome is Outcome.CHANGED and result.state.value == "C"
        counts = tally.taken()
        program_move = ProgramMoveCell(DAY, "G", "C", "store", "ticket_registration", "ticket_registration", "bf-2026")
        assert counts[program_move] == 1
        assert not [c for c in counts if isinstance(c, MoveCell)]  # the funnel counts it once, split by program
        assert counts[ContactedMoveCell(DAY, "G", "C", "ticket_registration", "bf-2026", "email")] == 1
        assert not [c for c in counts if isinstance(c, ContactedMoveCell) and c.program == "loyalty"]
        assert store.reads == 1

    def test_no_contact_read_without_a_move_up_or_without_the_policy(self):
        demoted = traced_g(state="C", counted_state="C")  # classified C, now G: a move down
        demoted["fields"] = {}
        store = ContactsStore(demoted, [Contact(NOW - timedelta(days=1), "email", "ticket_registration", "x")])
        tally = stream_tally()
        ClassifierService(store, RULES, clock=lambda: NOW, attribution=POLICY).handle(store.item, tally)
        assert store.reads == 0
        assert not [c for c in tally.taken() if isinstance(c, ContactedMoveCell)]

        store = ContactsStore(traced_g(), [Contact(NOW - timedelta(days=1), "email", "ticket_registration", "x")])
        ClassifierService(store, RULES, clock=lambda: NOW).handle(store.item, stream_tally())
        assert store.reads == 0

    def test_a_touchpoint_without_a_program_credits_none(self):
        item = traced_g()
        del item["last_program"], item["last_campaign"]
        store = ContactsStore(item, [])
        tally = stream_tally()
        ClassifierService(store, RULES, clock=lambda: NOW, attribution=POLICY).handle(store.item, tally)
        assert tally.taken()[MoveCell(DAY, "G", "C", "store", "ticket_registration")] == 1
        assert not [c for c in tally.taken() if isinstance(c, ProgramMoveCell)]


class TestReport:
    def test_the_report_keeps_the_contract_and_counts_only_moves_up(self):
        report = ProgramsReport(
            start=date(2026, 11, 1),
            end=date(2026, 11, 30),
            generated_at=datetime(2026, 12, 1, 8),
            attribution_days=14,
            moves={
                (date(2026, 11, 3), "G", "C", "store", "ticket_registration", "ticket_registration", "bf-2026"): 3,
                (date(2026, 11, 4), "G", "C", "web", "ticket_registration", "ticket_registration", "bf-2026"): 2,
                (date(2026, 11, 4), "C", "D", "web", "ticket_registration", "ticket_registration", "bf-2026"): 7,
                (date(2026, 11, 4), "none", "G", "store", "purchase", "loyalty", None): 1,
            },
            after_contact={(date(2026, 11, 4), "ticket_registration", "bf-2026", "email", "G", "C"): 4},
            contacts_sent={
                ("ticket_registration", "bf-2026", "email"): 40,
                ("ticket_registration", "bf-2026", "sms"): 5,
            },
            audience_pulled={("ticket_registration", "bf-2026"): 400},
        ).as_dict()
        assert list(report) == ["generated_at", "from", "to", "attribution_days", "programs"]
        assert (report["from"], report["to"], report["attribution_days"]) == ("2026-11-01", "2026-11-30", 14)
        loyalty, ticket = report["programs"]
        assert ticket == {
            "program": "ticket_registration",
            "campaign_id": "bf-2026",
            "audience_pulled": 400,
            "contacts_sent": 45,
            "contacts_by_channel": {"email": 40, "sms": 5},
            "moved": 5,
            "moves": [
                {"from": "G", "to": "C", "channel": "store", "count": 3},
                {"from": "G", "to": "C", "channel": "web", "count": 2},
            ],
            "moved_after_contact": 4,
            "moved_after_contact_by_channel": {"email": 4},
        }
        assert (loyalty["program"], loyalty["campaign_id"], loyalty["moved"]) == ("loyalty", None, 1)
