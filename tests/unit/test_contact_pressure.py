"""Contact pressure from counters (issue 23): the histogram moves summed per request equal a count by hand over any
history; reservation ids carry their expiry; a cap's allowed_at that holds only if a live reservation expires
unused says so."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_contact_decisions import FIELDS, NOON, POLICY, ask, person, sent
from touchpoints.contact.decide import (
    ContactEntry,
    ContactHistory,
    Reason,
    ReservationState,
    decide,
    new_reservation_id,
    reservation_expiry,
)
from touchpoints.contact.pressure import WINDOWS_DAYS, ContactTally, contact_deltas, histograms

START = date(2026, 11, 1)


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15)


def by_hand(contacts: dict[int, list[date]], today: date) -> dict[int, dict[int, int]]:
    """Window -> contacts -> people, counted from every person's whole list of contact days."""
    people: dict[int, Counter[int]] = {w: Counter() for w in WINDOWS_DAYS}
    for days in contacts.values():
        for window in WINDOWS_DAYS:
            n = sum(1 for d in days if today - timedelta(days=window - 1) <= d <= today)
            if n:
                people[window][n] += 1
    return {w: dict(sorted(c.items())) for w, c in people.items()}


# A record: (day recorded, as days after START; person; days before the day recorded that the contact was sent)
records = st.lists(st.tuples(st.integers(0, 70), st.integers(0, 5), st.integers(0, 40)), min_size=1, max_size=60).map(
    sorted
)


@settings(max_examples=100, deadline=None)
@given(records=records, request_size=st.integers(1, 6))
def test_the_summed_moves_equal_a_count_by_hand_on_every_day(records, request_size):
    # Given contacts recorded over ten weeks, some late (sent up to 40 days before), in requests of a few contacts
    histories: dict[int, list[ContactEntry]] = defaultdict(list)
    cells: Counter[tuple[date, date, int, int]] = Counter()  # (day recorded, target, window, contacts) -> people
    days_recorded = sorted({r for r, _, _ in records})
    for day in days_recorded:
        todays = [(who, back) for r, who, back in records if r == day]
        recorded = START + timedelta(days=day)
        for start in range(0, len(todays), request_size):
            tally = ContactTally(recorded)
            for who, back in todays[start : start + request_size]:
                entry = ContactEntry(at(recorded - timedelta(days=back)), "sms", "marketing", "cmp")
                # the service keeps 30 days of contacts on the person (pruned on each write) and moves from them
                kept = [e for e in histories[who] if e.at > at(recorded) - POLICY.history]
                tally.add(kept, entry)
                histories[who] = [*kept, entry]
            for (target, window, n), moved in tally.nonzero_pressure().items():
                cells[(recorded, target, window, n)] += moved

    # Then on every day, the report's histograms (what the last 30 days recorded moved onto it) are the count
    for offset in range(days_recorded[-1] + 31):
        today = START + timedelta(days=offset)
        read: Counter[tuple[date, int, int]] = Counter()
        for (recorded, target, window, n), moved in cells.items():
            if today - timedelta(days=29) <= recorded <= today:
                read[(target, window, n)] += moved
        assert histograms(read, today) == by_hand(_recorded_by(records, today), today), today


def _recorded_by(records: list[tuple[int, int, int]], today: date) -> dict[int, list[date]]:
    people: dict[int, list[date]] = defaultdict(list)
    for recorded, who, back in records:
        day = START + timedelta(days=recorded)
        if day <= today:
            people[who].append(day - timedelta(days=back))
    return people


def test_a_first_contact_moves_a_person_into_bucket_one_for_the_days_it_counts():
    today = date(2026, 12, 1)
    deltas = contact_deltas([], today, today)
    assert {cell for cell, n in deltas.items() if n} == {
        *((today + timedelta(days=k), 7, 1) for k in range(7)),
        *((today + timedelta(days=k), 30, 1) for k in range(30)),
    }
    # and a second one the next day moves them from one to two, and into one where the first no longer counts
    second = contact_deltas([ContactEntry(at(today), "sms", "marketing", "c")], today + timedelta(days=1), today)
    eighth = today + timedelta(days=7)
    assert second[(eighth, 7, 1)] == 1 and (eighth, 7, 2) not in second
    assert second[(today + timedelta(days=1), 7, 1)] == -1 and second[(today + timedelta(days=1), 7, 2)] == 1
    # and past days are left alone: no report reads them
    late = contact_deltas([], today - timedelta(days=3), today)
    assert min(target for target, _, _ in late) == today


def test_a_tally_counts_sent_contacts_per_day_channel_program_and_campaign():
    today = date(2026, 12, 1)
    tally = ContactTally(today)
    for program in ("loyalty", "loyalty", ""):
        tally.add([], ContactEntry(at(today), "email", "marketing", "buen-fin", program=program))
    assert tally.sent == {(today, "email", "loyalty", "buen-fin"): 2, (today, "email", None, "buen-fin"): 1}


def test_a_reservation_id_carries_its_expiry_and_a_late_contact_is_told_why_it_held_nothing():
    expires = NOON + timedelta(minutes=30)
    rid = new_reservation_id(expires)
    assert len(rid) == 36 and rid.startswith("rsv_") and reservation_expiry(rid) == expires
    live = ContactEntry(NOON, "sms", "marketing", "c", reservation_id=rid, expires_at=expires)
    history = ContactHistory(1, (), (live,))
    # on the history and live: used; on it but expired: expired
    assert history.reservation_state(rid, NOON + timedelta(minutes=5)) is ReservationState.USED
    assert history.reservation_state(rid, NOON + timedelta(hours=1)) is ReservationState.EXPIRED
    # gone from the history (pruned on a later write): the expiry it carries tells
    gone = history.pruned(NOON + timedelta(hours=1), POLICY.history)
    assert gone.reservations == ()
    assert gone.reservation_state(rid, NOON + timedelta(hours=1)) is ReservationState.EXPIRED
    # never this person's, and not yet expired: unknown
    other = new_reservation_id(NOON + timedelta(minutes=20))
    assert history.reservation_state(other, NOON + timedelta(minutes=5)) is ReservationState.UNKNOWN


def test_a_cap_that_lifts_only_if_a_live_reservation_expires_unused_says_so():
    # Given an SMS sent two days ago is not in the way, but a reservation made five minutes ago is (SMS: 1 a day)
    rid = new_reservation_id(NOON + timedelta(minutes=25))
    live = ContactEntry(
        NOON - timedelta(minutes=5),
        "sms",
        "marketing",
        "c",
        reservation_id=rid,
        expires_at=NOON + timedelta(minutes=25),
    )
    held = decide(person(sent=(sent(48, "sms"),), reservations=(live,)), ask("sms"), NOON, POLICY, FIELDS)
    # Then allowed when it expires unused, and a day after it was made if it is recorded
    assert (held.reason, held.allowed_at) == (Reason.FREQUENCY_CAP, NOON + timedelta(minutes=25))
    assert held.allowed_at_if_reservations_used == NOON - timedelta(minutes=5) + timedelta(days=1)
    # and a cap held by contacts sent alone does not say it
    capped = decide(person(sent=(sent(2, "sms"),)), ask("sms"), NOON, POLICY, FIELDS)
    assert capped.reason is Reason.FREQUENCY_CAP and capped.allowed_at_if_reservations_used is None
