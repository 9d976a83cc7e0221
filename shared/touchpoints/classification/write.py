"""A classification to store: what the classifier writes for one profile revision, read by the store and by the
counts it moves (its own module: the service and the counts both use it, neither imports the other for it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from touchpoints.classification.classify import Classification
from touchpoints.classification.funnel import NONE, UNKNOWN, Cause, Move
from touchpoints.classification.quality import QualityChange
from touchpoints.classification.rules import State


@dataclass(frozen=True, slots=True)
class ClassificationWrite:
    """A classification to store, valid only for the profile revision it was computed from."""

    subject_id: str
    origin_channel: str
    expected_version: int
    expected_consent_version: int
    expected_state: State | None  # the state the profile holds now (None: never classified)
    result: Classification
    classified_at: datetime
    # Set by the sweep: the profile's due time as read; the write holds only if nobody reclassified since.
    due_at: datetime | None = None
    # The state the counters hold the profile in, as read; the write holds only if it is still that one.
    counted_state: State | None = None
    cause: Cause = UNKNOWN
    quality: QualityChange | None = None
    # The counts' bookkeeping on the profile (classification/counts.py), each as read (the write holds only if it
    # is still that) and as written: the tally that counts this write, and the counts parked on the profile.
    counts_by_seen: str | None = None
    counts_by: str | None = None
    pending_seen: str | None = None
    pending: str | None = None
    # The audiences' summary (classification/audience.py) as read and as written; None: audiences not kept.
    audiences_seen: str | None = None
    audiences: str | None = None

    @property
    def counts_quality(self) -> bool:
        return self.quality is not None and self.quality.counts

    @property
    def state_changed(self) -> bool:
        return self.expected_state is not self.result.state

    @property
    def moves_the_counts(self) -> bool:
        """The distribution or the funnel changes with this write."""
        return self.state_changed or self.counted_state is not self.result.state

    @property
    def move(self) -> Move | None:
        if not self.state_changed:
            return None
        before = self.expected_state.value if self.expected_state else NONE
        return Move(self.classified_at.date(), before, self.result.state.value, self.cause)
