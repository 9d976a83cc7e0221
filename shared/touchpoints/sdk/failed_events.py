"""Failed SDK messages: what a channel's SDK sends wrong, without a single submitted value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from touchpoints.errors import FieldProblem


@dataclass(frozen=True, slots=True)
class FailedEvent:
    channel: str
    error_code: str
    field: str  # dotted path inside the message, e.g. traits.email; "" for the message itself
    message_id: str | None
    failed_at: datetime


def failed_event(
    channel: str, problems: Sequence[FieldProblem], message_id: str | None, failed_at: datetime
) -> FailedEvent:
    """The first problem of a refused message names its code and field."""
    first = problems[0] if problems else FieldProblem((), "invalid_message", "")
    return FailedEvent(channel, first.code, ".".join(str(p) for p in first.loc), message_id, failed_at)


class FailedEventStore(Protocol):
    def record(self, events: Sequence[FailedEvent]) -> None: ...

    def read(self, channel: str, day: str) -> Iterable[FailedEvent]: ...


@dataclass(frozen=True, slots=True)
class FailedEventCount:
    channel: str
    day: str
    error_code: str
    field: str
    count: int
    latest_message_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "day": self.day,
            "error_code": self.error_code,
            "field": self.field,
            "count": self.count,
            "latest_message_ids": list(self.latest_message_ids),
        }


def report(
    store: FailedEventStore, channels: Iterable[str], today: datetime, days: int, latest: int = 5
) -> list[FailedEventCount]:
    """Counts per channel, day, error code and field over the last `days` days, with the latest message ids."""
    counts: list[FailedEventCount] = []
    for channel in channels:
        for offset in range(days):
            day = (today - timedelta(days=offset)).date().isoformat()
            events = sorted(store.read(channel, day), key=lambda e: e.failed_at, reverse=True)
            tally = Counter((e.error_code, e.field) for e in events)
            for (code, field), count in sorted(tally.items()):
                ids = [e.message_id for e in events if (e.error_code, e.field) == (code, field) and e.message_id]
                counts.append(FailedEventCount(channel, day, code, field, count, tuple(ids[:latest])))
    return counts
