"""Per-subject data keys: envelope-encrypted by KMS, kept in the key vault, cached per container.

Destroying a subject's vault entry is crypto-shredding: every ciphertext of that person,
wherever it was copied, becomes unreadable.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from touchpoints.privacy.cipher import SubjectCipher


@dataclass(frozen=True, slots=True)
class NewDataKey:
    plaintext: bytes
    wrapped: bytes


class KeyWrapper(Protocol):
    """KMS, seen from the domain. Raises EncryptionUnavailable when it cannot answer."""

    def generate(self, subject_id: str) -> NewDataKey: ...

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes: ...


class SubjectKeyring:
    """Hands out a SubjectCipher per subject, calling KMS only on a cache miss."""

    def __init__(
        self,
        wrapper: KeyWrapper,
        *,
        max_subjects: int = 10_000,
        ttl_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wrapper = wrapper
        self._max = max_subjects
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, SubjectCipher]] = OrderedDict()

    def new_subject_key(self, subject_id: str) -> tuple[NewDataKey, SubjectCipher]:
        """A fresh key for a subject not yet stored; the caller persists ``wrapped``."""
        key = self._wrapper.generate(subject_id)
        return key, SubjectCipher(subject_id, key.plaintext)

    def remember(self, subject_id: str, cipher: SubjectCipher) -> None:
        """Cache a subject's cipher; the TTL counts from when the key was unwrapped, not from its last use."""
        entry = self._cache.get(subject_id)
        now = self._clock()
        if entry is None or entry[1] is not cipher or entry[0] < now:
            entry = (now + self._ttl, cipher)
        self._cache[subject_id] = entry
        self._cache.move_to_end(subject_id)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def cached(self, subject_id: str) -> SubjectCipher | None:
        entry = self._cache.get(subject_id)
        if entry is None:
            return None
        expires, cipher = entry
        if expires < self._clock():
            del self._cache[subject_id]
            return None
        self._cache.move_to_end(subject_id)
        return cipher

    def cipher_from_wrapped(self, subject_id: str, wrapped: bytes) -> SubjectCipher:
        cipher = self.cached(subject_id)
        if cipher is None:
            cipher = SubjectCipher(subject_id, self._wrapper.unwrap(subject_id, wrapped))
            self.remember(subject_id, cipher)
        return cipher

    def forget(self, subject_id: str) -> None:
        self._cache.pop(subject_id, None)
