"""How close the open erasures are to their legal deadline, for the operations dashboard and its alarm.

Counts only: no request id, no person. Read from the request queue's index, deadline order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from touchpoints.compliance.model import RequestKind
from touchpoints.compliance.queue import OPEN_STATES, QueueIndex

_PAGE = 100
# Days-left buckets of the OpenErasures metric, first match wins (upper bounds, inclusive).
DAYS_LEFT_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("overdue", -1),
    ("0-7", 7),
    ("8-14", 14),
    ("15-30", 30),
    ("31+", None),
)


def days_left_bucket(days_left: int) -> str:
    return next(name for name, upper in DAYS_LEFT_BUCKETS if upper is None or days_left <= upper)


@dataclass(frozen=True, slots=True)
class DeadlineCheck:
    near_deadline: int  # open erasures due within the warning window, or already overdue
    by_days_left: dict[str, int]  # every bucket, zeros included, so a dashboard line drops to 0

    @property
    def open(self) -> int:
        return sum(self.by_days_left.values())


def check_erasure_deadlines(index: QueueIndex, warn_days: int, today: date) -> DeadlineCheck:
    """Every open erasure (received, in progress or failed), counted by days left to its deadline."""
    days: list[int] = []
    for state in OPEN_STATES:
        after: str | None = None
        while True:
            page = index.due(state, None, after, _PAGE)
            days += [r.days_left(today) for r in page if r.kind is RequestKind.ERASURE]
            if len(page) < _PAGE:
                break
            after = page[-1].position
    buckets = Counter(days_left_bucket(d) for d in days)
    return DeadlineCheck(
        near_deadline=sum(1 for d in days if d <= warn_days),
        by_days_left={name: buckets.get(name, 0) for name, _ in DAYS_LEFT_BUCKETS},
    )
