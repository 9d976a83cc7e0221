"""The request queue: data-subject requests by legal deadline, in pages, with days left. No personal value.

Each state is its own index partition in deadline order; a page asking for several states
merges them and remembers, in its next_token, how far each state was read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from touchpoints.compliance.model import RequestKind, RequestState
from touchpoints.compliance.policy import Regulation
from touchpoints.errors import DomainError

OPEN_STATES = (RequestState.RECEIVED, RequestState.IN_PROGRESS, RequestState.FAILED)
QUEUE_SELECTIONS: dict[str, tuple[RequestState, ...]] = {
    "open": OPEN_STATES,
    "all": tuple(RequestState),
    **{state.value: (state,) for state in RequestState},
}
MAX_PAGE = 100
_TOKEN_BYTES = 4096

# "" is the start of a state's partition; a token's None marks a state read to its end.
QueuePosition = Annotated[str, StringConstraints(pattern=r"^(\d{4}-\d\d-\d\d#[0-9T:.+-]{19,40}#dsr_[0-9a-f]{32})?$")]


class InvalidPageToken(DomainError):
    status, code = 422, "invalid_next_token"


def queue_position(deadline: date, received_at: datetime, request_id: str) -> str:
    """Where a request sits in its state's partition: by deadline, then by arrival."""
    return f"{deadline.isoformat()}#{received_at.isoformat()}#{request_id}"


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    request_id: str
    kind: RequestKind
    regulation: Regulation
    case_reference: str
    state: RequestState
    received_at: datetime
    deadline: date

    @property
    def position(self) -> str:
        return queue_position(self.deadline, self.received_at, self.request_id)

    def days_left(self, today: date) -> int:
        return (self.deadline - today).days

    def entry(self, today: date) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "kind": self.kind.value,
            "regulation": self.regulation.value,
            "case_reference": self.case_reference,
            "state": self.state.value,
            "received_at": self.received_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "days_left": self.days_left(today),
        }


class QueueIndex(Protocol):
    def due(
        self, state: RequestState, regulation: Regulation | None, after: str | None, limit: int
    ) -> Sequence[QueuedRequest]:
        """Up to `limit` requests in this state (of this regulation), in queue order, after that position."""
        ...


class _Token(BaseModel):
    """What a next_token carries: the filters it was made for, and per state the last position read
    (None: that state is exhausted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    selection: str
    regulation: Regulation | None
    after: dict[RequestState, QueuePosition | None]


def _encode(token: _Token) -> str:
    return base64.urlsafe_b64encode(token.model_dump_json().encode()).decode().rstrip("=")


def _decode(text: str, selection: str, regulation: Regulation | None) -> _Token:
    try:
        if len(text) > _TOKEN_BYTES:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        token = _Token.model_validate(json.loads(raw))
    except (ValueError, binascii.Error, ValidationError, UnicodeDecodeError):
        raise InvalidPageToken("next_token is not one this API gave out") from None
    if (token.selection, token.regulation) != (selection, regulation):
        raise InvalidPageToken("next_token belongs to other filters; ask again without it")
    if set(token.after) != set(QUEUE_SELECTIONS[selection]):
        raise InvalidPageToken("next_token is not one this API gave out")
    return token


class RequestQueue:
    def __init__(self, index: QueueIndex, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._index = index
        self._clock = clock

    def page(self, selection: str, regulation: Regulation | None, limit: int, next_token: str | None) -> dict[str, Any]:
        """One page of the queue, earliest deadline first, and the token of the next page (None at the end)."""
        states = QUEUE_SELECTIONS[selection]
        after: dict[RequestState, str | None]
        if next_token is None:
            after, exhausted = dict.fromkeys(states, ""), set()
        else:
            token = _decode(next_token, selection, regulation)
            after = dict(token.after)
            exhausted = {state for state, position in token.after.items() if position is None}
        fetched: list[QueuedRequest] = []
        more: set[RequestState] = set()
        for state in states:
            if state in exhausted:
                continue
            found = self._index.due(state, regulation, after[state] or None, limit + 1)
            if len(found) > limit:
                more.add(state)
            fetched.extend(found[:limit])
        fetched.sort(key=lambda r: r.position)
        shown, left = fetched[:limit], fetched[limit:]
        cursors: dict[RequestState, str | None] = {}
        for state in states:
            taken = [r.position for r in shown if r.state is state]
            if state in exhausted or (state not in more and not any(r.state is state for r in left)):
                cursors[state] = None
            else:
                cursors[state] = taken[-1] if taken else after[state]
        today = self._clock().date()
        finished = all(position is None for position in cursors.values())
        return {
            "requests": [r.entry(today) for r in shown],
            "next_token": None
            if finished
            else _encode(_Token(selection=selection, regulation=regulation, after=cursors)),
        }
