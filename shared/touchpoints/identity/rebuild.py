"""Rebuilding the identity index from the profile table and the key vault.

The index (who holds each token, what each subject holds) has no backups, so that no copy of it outlives an
erasure. If it is lost, it is rebuilt from what is backed up: each live profile's identifying fields, opened
with the person's own key and tokenized again, and the suppression list. An erased person's key is gone, so
they contribute nothing. Only identifiers whose value a profile keeps (encrypted) can come back: the other
kinds are kept only as tokens (see ``TOKEN_ONLY_KINDS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from touchpoints.identity.resolution import IDENTIFYING_FIELDS
from touchpoints.model import IdentifierKind
from touchpoints.privacy.cipher import DecryptionFailed, SubjectCipher
from touchpoints.privacy.tokenizer import Tokenizer

_KIND_OF_FIELD: Mapping[str, IdentifierKind] = {name.value: kind for name, kind in IDENTIFYING_FIELDS.items()}
REBUILDABLE_KINDS = frozenset(_KIND_OF_FIELD.values())
# Kept only as tokens (no field holds their value): a rebuilt index cannot know them. The person's next touchpoint
# that carries one of them and a rebuildable identifier links it again.
TOKEN_ONLY_KINDS = frozenset(IdentifierKind) - REBUILDABLE_KINDS


@dataclass(frozen=True)
class LiveSubject:
    """An active profile as the rebuild reads it: its encrypted fields and its wrapped key (None once erased)."""

    subject_id: str
    fields: Mapping[str, bytes]
    wrapped_key: bytes | None


@dataclass(frozen=True)
class RebuildPage:
    suppressed: Sequence[str]  # tokens on the backed-up suppression list
    subjects: Sequence[LiveSubject]
    cursor: str | None  # where the next page starts; None when the table has been read to its end


class IndexRebuildStore(Protocol):
    def page(self, segment: int, total_segments: int, cursor: str | None) -> RebuildPage: ...

    def suppress(self, tokens: Iterable[str], now: datetime) -> int:
        """A suppression marker for each token, whoever held it; how many markers were new."""
        ...

    def claim(self, subject_id: str, tokens: Iterable[str], now: datetime) -> int:
        """Each token linked to the subject unless another subject or a suppression holds it; how many it holds."""
        ...

    def recount_links(self, subject_id: str) -> None:
        """The profile's per-kind link counters set to the links it holds in the index."""
        ...


@dataclass
class RebuildReport:
    counts: dict[str, int] = field(default_factory=dict)
    cursor: str | None = None

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


class IdentityIndexRebuild:
    """Reads the profile table in pages (one scan segment per run, resumable by its cursor) and writes the index."""

    def __init__(
        self,
        store: IndexRebuildStore,
        cipher_of: Callable[[str, bytes], SubjectCipher],
        tokenizer: Callable[[], Tokenizer],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._cipher_of = cipher_of
        self._tokenizer = tokenizer
        self._clock = clock

    def run(
        self, segment: int, total_segments: int, cursor: str | None, should_stop: Callable[[], bool]
    ) -> RebuildReport:
        report = RebuildReport(cursor=cursor)
        while True:
            page = self._store.page(segment, total_segments, report.cursor)
            # Suppressions first: a live profile that keeps an erased person's value in a field never takes it.
            report.add("suppressions_restored", self._store.suppress(page.suppressed, self._clock()))
            for subject in page.subjects:
                self._rebuild(subject, report)
            report.cursor = page.cursor
            if page.cursor is None or should_stop():
                return report

    def _rebuild(self, subject: LiveSubject, report: RebuildReport) -> None:
        if subject.wrapped_key is None:
            report.add("subjects_without_key")
            return
        cipher = self._cipher_of(subject.subject_id, subject.wrapped_key)
        tokenizer = self._tokenizer()
        tokens = []
        for name, blob in subject.fields.items():
            kind = _KIND_OF_FIELD.get(name)
            if kind is None:
                continue
            try:
                tokens.append(tokenizer.token(kind, cipher.decrypt(name, blob)))
            except DecryptionFailed:
                report.add("fields_unreadable")
        held = self._store.claim(subject.subject_id, tokens, self._clock())
        self._store.recount_links(subject.subject_id)
        report.add("subjects")
        report.add("tokens_linked", held)
        report.add("tokens_held_elsewhere", len(tokens) - held)
