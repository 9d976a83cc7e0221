"""Tokens, field encryption and the per-subject keyring, without AWS."""

from __future__ import annotations

import pytest

from touchpoints.model import IdentifierKind
from touchpoints.privacy.cipher import DecryptionFailed, SubjectCipher
from touchpoints.privacy.keyring import NewDataKey, SubjectKeyring
from touchpoints.privacy.tokenizer import Tokenizer

SECRET = b"s" * 32


def test_tokens_are_deterministic_keyed_and_separate_kinds():
    tokenizer = Tokenizer(SECRET)
    email = tokenizer.token(IdentifierKind.EMAIL, "ana@example.mx")
    assert email == tokenizer.token(IdentifierKind.EMAIL, "ana@example.mx")
    assert email.startswith("t1.email.")
    assert "ana" not in email
    assert email != Tokenizer(b"t" * 32).token(IdentifierKind.EMAIL, "ana@example.mx")
    assert tokenizer.token(IdentifierKind.PHONE, "5512345678") != tokenizer.token(
        IdentifierKind.APP_USER_ID, "5512345678"
    )


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        Tokenizer(b"short")


def test_field_encryption_round_trips_and_is_randomized():
    cipher = SubjectCipher("sub_1", b"k" * 32)
    first, second = cipher.encrypt("email", "ana@example.mx"), cipher.encrypt("email", "ana@example.mx")
    assert first != second
    assert b"ana" not in first
    assert cipher.decrypt("email", first) == "ana@example.mx"


@pytest.mark.parametrize(
    ("subject", "field", "key"),
    [("sub_1", "phone", b"k" * 32), ("sub_2", "email", b"k" * 32), ("sub_1", "email", b"j" * 32)],
)
def test_ciphertexts_cannot_be_moved_between_fields_subjects_or_keys(subject, field, key):
    blob = SubjectCipher("sub_1", b"k" * 32).encrypt("email", "ana@example.mx")
    with pytest.raises(DecryptionFailed):
        SubjectCipher(subject, key).decrypt(field, blob)


def test_tampered_or_unknown_ciphertexts_fail():
    cipher = SubjectCipher("sub_1", b"k" * 32)
    blob = bytearray(cipher.encrypt("email", "ana@example.mx"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        cipher.decrypt("email", bytes(blob))
    with pytest.raises(DecryptionFailed):
        cipher.decrypt("email", b"\x02" + bytes(blob[1:]))


class CountingWrapper:
    """A KeyWrapper that 'wraps' by prefixing; counts calls as KMS would be billed."""

    def __init__(self) -> None:
        self.generated = 0
        self.unwrapped = 0

    def generate(self, subject_id: str) -> NewDataKey:
        self.generated += 1
        key = (subject_id * 32).encode()[:32]
        return NewDataKey(key, b"wrapped:" + key)

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        self.unwrapped += 1
        return wrapped.removeprefix(b"wrapped:")


def test_keyring_calls_kms_once_per_subject_while_cached():
    wrapper = CountingWrapper()
    keyring = SubjectKeyring(wrapper)
    key, cipher = keyring.new_subject_key("sub_a")
    keyring.remember("sub_a", cipher)
    for _ in range(10):
        assert keyring.cipher_from_wrapped("sub_a", key.wrapped) is cipher
    assert (wrapper.generated, wrapper.unwrapped) == (1, 0)
    keyring.cipher_from_wrapped("sub_b", b"wrapped:" + b"b" * 32)
    keyring.cipher_from_wrapped("sub_b", b"wrapped:" + b"b" * 32)
    assert wrapper.unwrapped == 1


def test_keyring_forgets_after_ttl_and_beyond_its_size():
    now = [0.0]
    wrapper = CountingWrapper()
    keyring = SubjectKeyring(wrapper, max_subjects=2, ttl_seconds=60, clock=lambda: now[0])
    for subject in ("a", "b", "c"):
        keyring.cipher_from_wrapped(subject, b"wrapped:" + subject.encode() * 32)
    assert keyring.cached("a") is None  # evicted: least recently used
    assert keyring.cached("c") is not None
    now[0] = 61
    assert keyring.cached("c") is None
    keyring.forget("b")
    assert keyring.cached("b") is None
