"""What each classification adds to the counters, and how every count reaches them exactly once (issue 23).

Before, the counters changed in the profile's own transaction. At 3,000 touchpoints a second each counter item
took a transaction per classification (~190/s on QUALITY#<n>), was priced on its whole size (several KB) and
conflicts cancelled a third of the transactions: the profile's classification failed with its counts, and after
the stream's retries both were lost. Now:

1. A profile's classification is one conditional write of the profile alone. When it moves a count it names the
   *tally* that counts it (`counts_by`: a token). A tally is one unit of work: a stream batch, a sweep group, a page
   of `count_existing`.
2. The tally sums in memory the counts of the writes that held; a replayed or reordered record's write fails its
   condition and adds nothing. Then the store commits the sums once (adapters/classification_store.py): it records
   the tally's fate, COMMITTED, with its sums, and applies them with one update per counter item, which carries
   a marker so that a retried update adds nothing. A counter that conflicts or throttles is applied later, by the
   next invocations (`settle`); the profile is classified already and nothing waits on the counter.
3. A tally that never commits (its invocation died, the commit could not be written) leaves counts that no
   counter holds. Whoever finds one of its writes takes them over, after recording the tally ABORTED (a
   conditional write that fails if it committed meanwhile): a count is taken by its tally or by one finder.
   - A stream write is found by the retry of its own record (Lambda retries a failed batch, bisected, before any
     later record of that profile). The retry recomputes the counts from the same image at the time the profile
     says it was classified (classification is deterministic), and moves `counts_by` to its own tally.
   - A sweep or a count of existing profiles has no retry to find it: its writes also park their counts on the
     profile (`counts_pending`, `<token> <cells>`), and the profile's next classification takes them over (a
     departure too) once their tally is past its deadline; or drops them once it committed.

Why not Lambda's tumbling windows: the state they carry between invocations is lost when an invocation fails after
writing profiles (the retry gets the window's state from before it), so the counts of the profiles it wrote would be
lost the same way; and the local runner's stream emulator does not have them.

Failures, and what happens:
- a counter item conflicts or throttles: its update is retried, then left in the tally's work item and applied by a
  later invocation; the classification is not failed or delayed, and the reports lag by those counts until then.
- a profile write conflicts or throttles: it is asked again, then the record fails alone and Lambda retries it.
- a profile write fails its condition: the profile is read again; if only the classifier's own bookkeeping moved
  beside the revision, the write is planned again; if the revision is classified already, its counts are its
  tally's (or taken over, above); otherwise the record is stale: the record that classified it counted it.
- the commit cannot be written, or the invocation dies: the batch fails and is retried (bisected); the retry
  recomputes the counts of the writes the dead tally made, as above.
- a stream batch replayed, bisected, reordered: each write holds once, so each count is taken once.
- a sweep group's commit fails: the sweep stops (its next run goes on); the group's counts wait on its profiles.
- the known gaps: a batch whose commit fails on every retry goes to the dead-letter queue with its counts; if the
  profile is classified again before the queue is redriven, that classification's counts are not recovered. Counts
  a dead sweep parked on a profile wait for that profile's next classification (the daily sweep, a touchpoint).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from touchpoints.classification.attribution import ContactCredit, more_complete
from touchpoints.classification.funnel import Departure, Move
from touchpoints.classification.write import ClassificationWrite


class StateCell(NamedTuple):
    """Active profiles in a state, by the channel they came in through."""

    state: str
    origin: str


class MoveCell(NamedTuple):
    """Profiles that moved from one state to another on a day, by a channel's action."""

    day: date
    from_state: str
    to_state: str
    channel: str
    action: str


class ProgramMoveCell(NamedTuple):
    """Profiles that moved on a day by a channel's action, of touchpoints that named a program (and campaign, or
    empty): the funnel's move, split by program (issue 25)."""

    day: date
    from_state: str
    to_state: str
    channel: str
    action: str
    program: str
    campaign: str


class ContactedMoveCell(NamedTuple):
    """Profiles that moved to a more complete state on a day within the attribution window of a contact of a
    program and campaign (or empty), on the channel of its latest contact."""

    day: date
    from_state: str
    to_state: str
    program: str
    campaign: str
    channel: str


class TouchpointCell(NamedTuple):
    """Touchpoints of a channel's action classified on a day: all, or those that confirmed a kind of field."""

    day: date
    measure: str
    channel: str
    action: str


class AgeCell(NamedTuple):
    """Active profiles whose field was last confirmed on a day."""

    day: date
    field: str


Cell = StateCell | MoveCell | ProgramMoveCell | ContactedMoveCell | TouchpointCell | AgeCell
Counts = Counter[Cell]

_KINDS: dict[
    str,
    type[StateCell]
    | type[MoveCell]
    | type[ProgramMoveCell]
    | type[ContactedMoveCell]
    | type[TouchpointCell]
    | type[AgeCell],
] = {
    "s": StateCell,
    "m": MoveCell,
    "p": ProgramMoveCell,
    "c": ContactedMoveCell,
    "t": TouchpointCell,
    "a": AgeCell,
}
_KIND_OF = {kind: letter for letter, kind in _KINDS.items()}


def _move(move: Move) -> MoveCell | ProgramMoveCell:
    cause = move.cause
    if cause.program:
        return ProgramMoveCell(
            move.day,
            move.from_state,
            move.to_state,
            cause.channel,
            cause.action,
            cause.program,
            cause.campaign_id or "",
        )
    return MoveCell(move.day, move.from_state, move.to_state, cause.channel, cause.action)


def of_contacts(move: Move | None, credits: Iterable[ContactCredit]) -> Counts:
    """What a move adds to the moves after a contact: one per program and campaign credited (attribution.credited),
    on its latest contact's channel; a move to a state no more complete adds nothing."""
    if move is None or not more_complete(move.from_state, move.to_state):
        return Counter()
    return Counter(
        ContactedMoveCell(move.day, move.from_state, move.to_state, c.program, c.campaign_id or "", c.channel)
        for c in credits
    )


def of_write(write: ClassificationWrite) -> Counts:
    """What a classification adds to the counters if its write holds."""
    counts: Counts = Counter()
    if write.moves_the_counts:
        counts[StateCell(write.result.state.value, write.origin_channel)] += 1
        if write.counted_state is not None:
            counts[StateCell(write.counted_state.value, write.origin_channel)] -= 1
    if (move := write.move) is not None:
        counts[_move(move)] += 1
    if (quality := write.quality) is not None:
        if quality.touchpoint is not None:
            channel, action = quality.touchpoint.channel, quality.touchpoint.action
            for measure in quality.measures:
                counts[TouchpointCell(quality.day, measure, channel, action)] += 1
        for (name, day), change in quality.ages.items():
            counts[AgeCell(day, name)] += change
    return nonzero(counts)


def of_departure(departure: Departure) -> Counts:
    """What a profile leaving the counts takes out of them (and its move to `gone`)."""
    counts: Counts = Counter({_move(departure.move): 1})
    if departure.counted_state is not None:
        counts[StateCell(departure.counted_state.value, departure.origin_channel)] -= 1
    for (name, day), change in departure.field_ages.items():
        counts[AgeCell(day, name)] += change
    return nonzero(counts)


def of_existing(state: str, origin: str) -> Counts:
    """A profile classified before the counters existed, counted in the distribution."""
    return Counter({StateCell(state, origin): 1})


def nonzero(counts: Mapping[Cell, int]) -> Counts:
    """`+counter` would drop the negative counts too."""
    return Counter({cell: n for cell, n in counts.items() if n})


def total(*counts: Mapping[Cell, int]) -> Counts:
    """The sum, negative counts kept (Counter's `+` drops them)."""
    summed: Counts = Counter()
    for each in counts:
        summed.update(each)
    return nonzero(summed)


def encode(token: str, counts: Mapping[Cell, int]) -> str:
    """Counts parked on a profile (profile_item.COUNTS_PENDING): the tally's token, then the cells as JSON."""
    cells = [
        [_KIND_OF[type(cell)], *(v.isoformat() if isinstance(v, date) else v for v in cell), n]
        for cell, n in sorted(nonzero(counts).items(), key=lambda entry: repr(entry[0]))
    ]
    return f"{token} {json.dumps(cells, separators=(',', ':'))}"


def decode(text: str) -> tuple[str, Counts]:
    """(token, counts) of what `encode` wrote. Raises ValueError when it is not that."""
    token, _, cells = text.partition(" ")
    counts: Counts = Counter()
    for kind, *values, n in json.loads(cells):
        make = _KINDS[kind]
        fields = [
            date.fromisoformat(v) if name == "day" else str(v) for name, v in zip(make._fields, values, strict=True)
        ]
        counts[make._make(fields)] += int(n)
    return token, counts


class TallyKind(StrEnum):
    STREAM = "s"  # a batch of the profile stream: a record that failed is delivered again, before later ones
    PARKED = "p"  # a sweep group, a page of existing profiles: no retry finds its writes, its counts wait on them


class Fate(StrEnum):
    OPEN = "open"  # neither: its writer may still commit, or died before it could
    COMMITTED = "committed"  # its counts are the counters' (or will be, from its work item)
    ABORTED = "aborted"  # it will never commit: its counts are taken over by whoever finds its writes


# Clocks of Lambda hosts differ by far less: a tally is taken for dead this long after its deadline.
DEADLINE_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Token:
    """A tally's name: its kind, the moment its invocation is over at the latest, and randomness."""

    kind: TallyKind
    deadline: datetime
    value: str

    @classmethod
    def new(cls, kind: TallyKind, deadline: datetime) -> Token:
        seconds = int(deadline.timestamp()) + 1
        return cls(kind, datetime.fromtimestamp(seconds, UTC), f"{kind.value}{seconds}.{secrets.token_hex(8)}")

    @classmethod
    def parse(cls, value: str) -> Token | None:
        try:
            kind, seconds = TallyKind(value[:1]), int(value[1:].split(".", 1)[0])
        except ValueError:
            return None
        return cls(kind, datetime.fromtimestamp(seconds, UTC), value)

    def over(self, now: datetime) -> bool:
        """Its invocation has ended for sure: Lambda stops every invocation at its timeout."""
        return now > self.deadline + DEADLINE_MARGIN


@dataclass
class Tally:
    """The counts one unit of work took (writes that held, counts taken over), committed together by the store."""

    token: Token
    counts: Counts = field(default_factory=Counter)
    fates: dict[str, Fate] = field(default_factory=dict)  # what this unit of work learnt of other tallies
    named: bool = False  # some write names its token: its fate must be recorded, even if its counts sum to nothing
    parked: bool = False  # some write parked counts under its token: its fate must be kept as long as they wait
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, kind: TallyKind, deadline: datetime) -> Tally:
        return cls(Token.new(kind, deadline))

    @property
    def parks(self) -> bool:
        return self.token.kind is TallyKind.PARKED

    def add(self, counts: Mapping[Cell, int]) -> None:
        with self._lock:
            self.counts.update(counts)

    def taken(self) -> Counts:
        with self._lock:
            return nonzero(self.counts)
