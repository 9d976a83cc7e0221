"""What the operator reads: tables, progress lines and the certificate's text form. No personal value ever
reaches these: the API's statuses, queue and certificates hold ids, case references, times and counts only."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TextIO

RED, YELLOW, GREEN, DIM, RESET = "\033[31m", "\033[33m", "\033[32m", "\033[2m", "\033[0m"
OPEN_STATES = frozenset({"received", "in_progress", "failed"})
SOON_DAYS = 5


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{colour}{text}{RESET}" if enabled and colour else text


def today() -> date:
    return datetime.now(UTC).date()


def days_left(deadline: str, on: date | None = None) -> int:
    return (date.fromisoformat(deadline) - (on or today())).days


def deadline_note(request: Mapping[str, Any]) -> tuple[str, bool]:
    """A phrase about the request's deadline, and whether it was missed (open past it, or completed after it)."""
    deadline = str(request["deadline"])
    completed = request.get("completed_at")
    if completed and request.get("state") == "completed":
        late = (datetime.fromisoformat(str(completed)).date() - date.fromisoformat(deadline)).days
        if late > 0:
            return f"deadline {deadline} PASSED: completed {late} day(s) late", True
        return f"deadline {deadline} met", False
    left = days_left(deadline)
    if left < 0:
        return f"deadline {deadline} PASSED {-left} day(s) ago", True
    return f"deadline {deadline} ({left} day(s) left)", False


def counts_text(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in sorted(counts.items())) or "no counts yet"


def status_lines(request: Mapping[str, Any]) -> list[str]:
    note, _ = deadline_note(request)
    lines = [
        f"{request['request_id']}  {request['kind']}  {request['regulation']}  case {request['case_reference']}",
        f"  subject   {request.get('subject_id') or 'nobody holds these identifiers'}"
        f" ({request.get('identifiers', 0)} identifier(s))",
        f"  state     {request['state']}" + (f" (next step: {request['step']})" if request.get("step") else ""),
        f"  received  {request['received_at']}",
        f"  deadline  {note.removeprefix('deadline ')}",
        f"  counts    {counts_text(request.get('counts') or {})}",
    ]
    if request.get("completed_at"):
        lines.insert(3, f"  completed {request['completed_at']}")
    if request.get("failure"):
        lines.append(f"  failure   {request['failure']}")
    return lines


ERASURE_STEPS = ("freeze", "suppress", "shred", "purge")
STEP_COUNTS = {"suppress": ("tokens_suppressed", "tokens_released"), "shred": ("keys_destroyed",)}


class ErasureProgress:
    """Lines for an erasure followed by polling: each step once it is done (also those run between two polls),
    and the purge's pages as its count of deleted items grows."""

    def __init__(self) -> None:
        self._done = 0  # steps reported done
        self._deleted: int | None = None

    def lines(self, request: Mapping[str, Any]) -> list[str]:
        counts = request.get("counts") or {}
        finished = request["state"] == "completed"
        step = request.get("step")
        reached = len(ERASURE_STEPS) if finished or step == "done" else _step_index(step)
        out = []
        deleted = counts.get("items_deleted")
        if reached > ERASURE_STEPS.index("purge") or step == "purge":
            if deleted is not None and deleted != self._deleted and not finished:
                out.append(f"  purge      {deleted:,} items deleted so far")
            self._deleted = deleted
        for name in ERASURE_STEPS[self._done : reached]:
            shown = {
                k: v
                for k, v in counts.items()
                if k in STEP_COUNTS.get(name, ("items_deleted",) if name == "purge" else ())
            }
            out.append(f"  {name:<10} done" + (f"  {counts_text(shown)}" if shown else ""))
        self._done = max(self._done, reached)
        return out


def _step_index(step: str | None) -> int:
    return ERASURE_STEPS.index(step) if step in ERASURE_STEPS else 0


QUEUE_COLUMNS = ("REQUEST", "KIND", "REGULATION", "CASE", "STATE", "RECEIVED", "DEADLINE", "DAYS LEFT")


def queue_table(requests: Sequence[Mapping[str, Any]], colour: bool) -> str:
    rows = []
    for r in requests:
        left = r.get("days_left")
        left = days_left(str(r["deadline"])) if left is None else int(left)
        rows.append(
            (
                (
                    str(r["request_id"]),
                    str(r["kind"]),
                    str(r["regulation"]),
                    str(r["case_reference"]),
                    str(r["state"]),
                    str(r["received_at"])[:16].replace("T", " "),
                    str(r["deadline"]),
                    str(left),
                ),
                _urgency(str(r["state"]), left),
            )
        )
    widths = [max(len(h), *(len(cells[i]) for cells, _ in rows)) for i, h in enumerate(QUEUE_COLUMNS)]
    line = "  ".join(h.ljust(w) for h, w in zip(QUEUE_COLUMNS, widths, strict=True))
    out = [paint(line, DIM, colour)]
    for cells, urgency in rows:
        text = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        out.append(paint(text, urgency, colour))
    return "\n".join(out)


def _urgency(state: str, left: int) -> str:
    if state not in OPEN_STATES:
        return ""
    if left < 0:
        return RED
    return YELLOW if left <= SOON_DAYS else GREEN
