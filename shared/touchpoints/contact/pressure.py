"""Contact pressure from counters (issue 23): what one more contact does to the histograms of people by contacts.

The report answers, for today, how many people received N contacts in the last 7 and in the last 30 days (UTC
calendar days, today included). For a window of W days, a person's count on day t is the number of their contacts
sent on days t-W+1 .. t; day t's histogram holds, for every N >= 1, the people whose count is N. A contact sent on
day d raises the person's count on each day t in [d, d+W-1] from c_t to c_t+1: it moves one person from bucket c_t
(none when c_t is 0) to bucket c_t+1 of day t's histogram. The service holds the person's history when it records
the contact (the write is conditioned on it), so the move is exact; it is summed over a request and applied once.

Only target days from the day recorded on are kept: no report reads a past day. A merge joins two histories
without these moves (the two people stay counted apart until their contacts age out), and an erasure leaves its
counts: counts only, never an id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta

from touchpoints.contact.decide import ContactEntry

WINDOWS_DAYS = (7, 30)
LONGEST = max(WINDOWS_DAYS)

# (target day, window days, contacts) -> people moved into that bucket (negative: out of it)
PressureDeltas = Counter[tuple[date, int, int]]
# (day sent, channel, program or None, campaign id) -> contacts sent
SentCounts = Counter[tuple[date, str, str | None, str]]


def sent_day(entry: ContactEntry) -> date:
    return entry.at.astimezone(UTC).date()


def contact_deltas(sent: Iterable[ContactEntry], day: date, today: date) -> PressureDeltas:
    """The histogram moves of one more contact on `day`, for a person who had `sent`, on the days from `today`."""
    days = [sent_day(e) for e in sent]
    deltas: PressureDeltas = Counter()
    for window in WINDOWS_DAYS:
        for offset in range(window):
            target = day + timedelta(days=offset)
            if target < today:
                continue
            before = sum(1 for d in days if target - timedelta(days=window - 1) <= d <= target)
            if before:
                deltas[(target, window, before)] -= 1
            deltas[(target, window, before + 1)] += 1
    return deltas


@dataclass
class ContactTally:
    """What one request's newly stored contacts add to the counters, summed: applied once, after the writes."""

    today: date
    pressure: PressureDeltas = field(default_factory=Counter)
    sent: SentCounts = field(default_factory=Counter)

    def add(self, before: Iterable[ContactEntry], entry: ContactEntry) -> None:
        """A contact stored on a person whose history was `before` (the revision its write was conditioned on)."""
        self.pressure.update(contact_deltas(before, sent_day(entry), self.today))
        self.sent[(sent_day(entry), entry.channel, entry.program or None, entry.campaign_id)] += 1

    def nonzero_pressure(self) -> dict[tuple[date, int, int], int]:
        return {cell: n for cell, n in self.pressure.items() if n}

    @property
    def empty(self) -> bool:
        return not self.nonzero_pressure() and not any(self.sent.values())


def histograms(cells: Mapping[tuple[date, int, int], int], today: date) -> dict[int, dict[int, int]]:
    """Window -> contacts -> people on `today`, from every recorded day's moves onto it (empty buckets left out)."""
    people: dict[int, Counter[int]] = {window: Counter() for window in WINDOWS_DAYS}
    for (target, window, contacts), n in cells.items():
        if target == today and window in people:
            people[window][contacts] += n
    return {window: {n: c for n, c in sorted(counts.items()) if c > 0} for window, counts in people.items()}
