"""Per-subject data keys: each wrapped (under a branch key, touchpoints.privacy.branch_keys), kept in the key vault,
and cached unwrapped per container.

Destroying a subject's vault entry is crypto-shredding: every ciphertext of that person,
wherever it was copied, becomes unreadable.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from touchpoints.privacy.cipher import SubjectCipher


@dataclass(frozen=True, slots=True)
class NewDataKey:
    plaintext: bytes = field(repr=False)
    wrapped: bytes


class KeyWrapper(Protocol):
    """What makes and opens wrapped data keys (branch keys, or KMS itself). Raises EncryptionUnavailable when it
    cannot answer."""

    def generate(self, subject_id: str) -> NewDataKey: ...

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes: ...


class _Cached(NamedTuple):
    expires: float
    wrapped: bytes  # what the cipher's key was unwrapped from: another vault item's bytes are unwrapped again
    cipher: SubjectCipher


class SubjectKeyring:
    """Hands out a SubjectCipher per subject, unwrapping a data key only on a cache miss.

    The cache holds each subject's key with the wrapped bytes it came from: a retry, a re-read or another
    touchpoint in the same container reuses it as long as the vault item holds those bytes, and a vault item that
    changed (a rotation re-wrapped it, a subject id written anew) is unwrapped again.
    """

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
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    def new_subject_key(self, subject_id: str) -> tuple[NewDataKey, SubjectCipher]:
        """A fresh key for a subject not yet stored; the caller persists ``wrapped``. Cached with those bytes: a
        write that did not store them (the subject was written by another container) finds other bytes and
        unwraps those."""
        key = self._wrapper.generate(subject_id)
        cipher = SubjectCipher(subject_id, key.plaintext)
        self._put(subject_id, key.wrapped, cipher)
        return key, cipher

    def remember(self, subject_id: str, cipher: SubjectCipher) -> None:
        """Keep a subject's cipher as recently used; its TTL counts from when the key was unwrapped, not from its
        last use."""
        entry = self._cache.get(subject_id)
        if entry is not None and entry.cipher is cipher and entry.expires >= self._clock():
            self._cache.move_to_end(subject_id)

    def cached(self, subject_id: str, wrapped: bytes | None = None) -> SubjectCipher | None:
        """The subject's cipher if cached (and, given `wrapped`, unwrapped from those very bytes)."""
        entry = self._cache.get(subject_id)
        if entry is None:
            return None
        if entry.expires < self._clock():
            del self._cache[subject_id]
            return None
        if wrapped is not None and entry.wrapped != wrapped:
            return None
        self._cache.move_to_end(subject_id)
        return entry.cipher

    def cipher_from_wrapped(self, subject_id: str, wrapped: bytes) -> SubjectCipher:
        cipher = self.cached(subject_id, wrapped)
        if cipher is None:
            cipher = SubjectCipher(subject_id, self._wrapper.unwrap(subject_id, wrapped))
            self._put(subject_id, wrapped, cipher)
        return cipher

    def forget(self, subject_id: str) -> None:
        self._cache.pop(subject_id, None)

    def _put(self, subject_id: str, wrapped: bytes, cipher: SubjectCipher) -> None:
        self._cache[subject_id] = _Cached(self._clock() + self._ttl, wrapped, cipher)
        self._cache.move_to_end(subject_id)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
