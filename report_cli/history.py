"""The state distribution over time, derived: no API keeps a daily distribution, but today's distribution and
the funnel's daily moves (every change of state, including new profiles `none` and departures `gone`) give
it by walking back: the end of the day before = the end of the day minus what arrived plus what left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

STATES = ("A", "B", "C", "D", "E", "F", "G", "U")


@dataclass(frozen=True)
class History:
    days: list[date]  # every day of the funnel's period, oldest first
    counts: list[dict[str, int]]  # the distribution at the end of each day
    start: dict[str, int]  # at the start of the period (before its first day's moves)
    clamped: bool  # a walk back went below zero: the counters and the moves disagree (shown, not hidden)


def walk_back(by_state: Mapping[str, int], funnel: Mapping[str, Any]) -> History:
    start, end = date.fromisoformat(funnel["from"]), date.fromisoformat(funnel["to"])
    moves_on: dict[date, Sequence[Mapping[str, Any]]] = {
        date.fromisoformat(d["day"]): d.get("transitions") or [] for d in funnel.get("days") or []
    }
    current = {s: int(by_state.get(s, 0)) for s in STATES}
    clamped = False
    days: list[date] = []
    counts: list[dict[str, int]] = []
    day = end
    while day >= start:
        days.append(day)
        counts.append(dict(current))
        for move in moves_on.get(day, ()):
            n = int(move.get("profiles", 0))
            if move.get("to") in current:
                current[move["to"]] -= n
            if move.get("from") in current:
                current[move["from"]] += n
        for state, n in current.items():
            if n < 0:
                current[state], clamped = 0, True
        day -= timedelta(days=1)
    days.reverse()
    counts.reverse()
    return History(days, counts, dict(current), clamped)
