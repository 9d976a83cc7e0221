"""The key hierarchy: KMS protects a few branch keys; a branch key wraps many people's data keys, locally.

    stack's KMS key ──protects──> branch key versions (BranchKeyTable) ──wrap──> each person's data key (KeyVaultTable)

The design of the AWS Material Providers Library's hierarchical keyring (docs/keys.md says point by point where it
matches and where it differs), built on `cryptography`: a container unwraps a branch key version with one KMS call
and then wraps and unwraps data keys itself, for as long as its cache keeps the version.

A data key wrapped under a branch key is an envelope that names its version:

    MAGIC (5) | version (16, a UUID) | salt (16) | nonce (12) | AES-256-GCM ciphertext of the data key (32) + tag (16)

Its AES-256-GCM key is derived for that one wrap from the branch key and the salt (NIST SP 800-108 KDF in counter
mode, HMAC-SHA-256), and the associated data binds the envelope's header, the branch key id and the subject id: an
envelope copied to another person's vault item does not unwrap. A vault item without MAGIC is a data key wrapped
by KMS itself (written before the hierarchy, until a rotation moves it): `version_of` says None for it. Real KMS
ciphertexts begin with a 0x01 or 0x02 byte, moto's with the key id, never with MAGIC.

Pure: the branch keys are reached through `BranchKeySource` (touchpoints.adapters.branch_keys).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

from touchpoints.privacy.cipher import DecryptionFailed
from touchpoints.privacy.keyring import KeyWrapper, NewDataKey

MAGIC = b"TPBK\x01"
LEGACY_KMS = "kms"  # how progress and counts name the data keys KMS wraps itself (no branch version)
KEY_BYTES = 32
_VERSION_BYTES = 16
_SALT_BYTES = 16
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER = len(MAGIC) + _VERSION_BYTES
WRAPPED_BYTES = _HEADER + _SALT_BYTES + _NONCE_BYTES + KEY_BYTES + _TAG_BYTES
_KDF_LABEL = b"touchpoints-branch-key-wrap"


def version_of(wrapped: bytes) -> str | None:
    """The branch key version an envelope is wrapped under; None for a data key wrapped by KMS (legacy)."""
    if len(wrapped) != WRAPPED_BYTES or not wrapped.startswith(MAGIC):
        return None
    return wrapped[len(MAGIC) : _HEADER].hex()


@dataclass(frozen=True, slots=True)
class BranchKey:
    """One version of the branch key, unwrapped: it never leaves the container's memory."""

    branch_key_id: str
    version: str
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES or len(bytes.fromhex(self.version)) != _VERSION_BYTES:
            raise ValueError("a branch key is 256 bits under a 16-byte version")

    def wrap(self, subject_id: str, data_key: bytes) -> bytes:
        header = MAGIC + bytes.fromhex(self.version)
        salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._derive(salt)).encrypt(nonce, data_key, self._aad(header, subject_id))
        return header + salt + nonce + sealed

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        if version_of(wrapped) != self.version:
            raise DecryptionFailed("the data key is not wrapped under this branch key version")
        salt = wrapped[_HEADER : _HEADER + _SALT_BYTES]
        nonce = wrapped[_HEADER + _SALT_BYTES : _HEADER + _SALT_BYTES + _NONCE_BYTES]
        sealed = wrapped[_HEADER + _SALT_BYTES + _NONCE_BYTES :]
        try:
            return AESGCM(self._derive(salt)).decrypt(nonce, sealed, self._aad(wrapped[:_HEADER], subject_id))
        except InvalidTag:
            raise DecryptionFailed("the wrapped data key does not authenticate for this subject") from None

    def _derive(self, salt: bytes) -> bytes:
        kdf = KBKDFHMAC(
            algorithm=hashes.SHA256(),
            mode=Mode.CounterMode,
            length=KEY_BYTES,
            rlen=4,
            llen=4,
            location=CounterLocation.BeforeFixed,
            label=_KDF_LABEL,
            context=salt,
            fixed=None,
        )
        return kdf.derive(self.material)

    def _aad(self, header: bytes, subject_id: str) -> bytes:
        return header + self.branch_key_id.encode() + b"\x1f" + subject_id.encode()


class UnknownBranchKeyVersion(Exception):
    """A data key names a branch key version the store no longer has (a retired version)."""


@dataclass(frozen=True, slots=True)
class SealedBranchKey:
    """A version as stored: its key still sealed by KMS."""

    version: str
    sealed: bytes = field(repr=False)


class BranchKeySource(Protocol):
    """The branch key store, seen from the domain. Raises EncryptionUnavailable when KMS or the store cannot answer."""

    def active(self) -> SealedBranchKey | None:
        """The version new data keys are wrapped under (one read); None before the stack's first branch key."""
        ...

    def stored(self, version: str) -> SealedBranchKey:
        """One version (one read); raises UnknownBranchKeyVersion if it was retired."""
        ...

    def unseal(self, sealed: SealedBranchKey) -> BranchKey:
        """One KMS Decrypt."""
        ...


class BranchKeyCache:
    """A container's branch keys: each version unsealed once per TTL (like the Material Providers Library's cache,
    keyed by version), and the active pointer read once per TTL: a version the container holds already costs no KMS
    call when it becomes (or is found to be) the active one. Thread-safe: the re-wrap job's workers share one."""

    def __init__(
        self, source: BranchKeySource, *, ttl_seconds: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._active: tuple[float, str | None] | None = None
        self._versions: dict[str, tuple[float, BranchKey]] = {}

    def active(self) -> BranchKey | None:
        with self._lock:
            now = self._clock()
            if self._active is None or self._active[0] <= now:
                found = self._source.active()
                self._active = (now + self._ttl, found.version if found else None)
                if found is not None:
                    return self._held(found.version, now, found)
            version = self._active[1]
            return None if version is None else self._held(version, now)

    def version(self, version: str) -> BranchKey:
        with self._lock:
            return self._held(version, self._clock())

    def clear(self) -> None:
        with self._lock:
            self._active = None
            self._versions.clear()

    def _held(self, version: str, now: float, found: SealedBranchKey | None = None) -> BranchKey:
        entry = self._versions.get(version)
        if entry is None or entry[0] <= now:
            entry = (now + self._ttl, self._source.unseal(found or self._source.stored(version)))
            self._versions[version] = entry
        return entry[1]


class HierarchicalKeyWrapper:
    """New data keys are made here and wrapped under the active branch key version; a stored one is unwrapped under
    the version its envelope names, or by KMS (`legacy`) if it is a data key from before the hierarchy.

    A stack with no branch key yet (deployed, its operator's first `keys branch-keys start` not yet run) keeps
    making data keys with KMS, as before the hierarchy: nothing stops while the operator catches up."""

    def __init__(self, branch_keys: BranchKeyCache, legacy: KeyWrapper) -> None:
        self._branch_keys = branch_keys
        self._legacy = legacy

    def generate(self, subject_id: str) -> NewDataKey:
        active = self._branch_keys.active()
        if active is None:
            return self._legacy.generate(subject_id)
        data_key = os.urandom(KEY_BYTES)
        return NewDataKey(data_key, active.wrap(subject_id, data_key))

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        version = version_of(wrapped)
        if version is None:
            return self._legacy.unwrap(subject_id, wrapped)
        try:
            return self._branch_keys.version(version).unwrap(subject_id, wrapped)
        except UnknownBranchKeyVersion:
            raise DecryptionFailed("the data key's branch key version was retired") from None
