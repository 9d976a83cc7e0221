"""AES-256-GCM field encryption under a subject's data key.

The subject id and the field name are bound as associated data, so a ciphertext copied to
another field or another person fails to decrypt instead of yielding a wrong value.
"""

from __future__ import annotations

import base64
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12
_DIGEST_KEY_LABEL = b"touchpoints/keyed-digest/1"


class DecryptionFailed(Exception):
    """The ciphertext was tampered with, moved, or its key is not the subject's."""


class SubjectCipher:
    """Encrypts and decrypts one subject's fields with that subject's data key."""

    __slots__ = ("_aad_prefix", "_aead", "_digest_key", "_subject_id")

    def __init__(self, subject_id: str, data_key: bytes) -> None:
        if len(data_key) != 32:
            raise ValueError("data key must be 256 bits")
        self._subject_id = subject_id
        self._aad_prefix = f"{subject_id}\x1f".encode()
        self._aead = AESGCM(data_key)
        # A separate key for digests, so no MAC is ever made with the encryption key itself.
        self._digest_key = hmac.digest(data_key, _DIGEST_KEY_LABEL, "sha256")

    def _aad(self, field: str) -> bytes:
        return self._aad_prefix + field.encode()

    def encrypt(self, field: str, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext.encode(), self._aad(field))

    def digest(self, field: str, text: str) -> str:
        """A stable name for `text` that only this subject's key can compute: item keys that must be
        found again (a retried event) but must say nothing once the key is destroyed."""
        mac = hmac.digest(self._digest_key, self._aad(field) + b"\x1f" + text.encode(), "sha256")
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def decrypt(self, field: str, blob: bytes) -> str:
        if blob[:1] != _FORMAT_V1:
            raise DecryptionFailed("unknown ciphertext format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._aad(field)).decode()
        except InvalidTag:
            raise DecryptionFailed("ciphertext does not authenticate for this subject and field") from None
