"""The key hierarchy without AWS: the envelope a branch key wraps a data key in, the branch key cache, the
hierarchical wrapper (and its KMS fallback), and the keyring's reuse of a key it holds."""

from __future__ import annotations

import os

import pytest

from touchpoints.errors import EncryptionUnavailable
from touchpoints.items.branch_key import new_version
from touchpoints.privacy.branch_keys import (
    MAGIC,
    WRAPPED_BYTES,
    BranchKey,
    BranchKeyCache,
    HierarchicalKeyWrapper,
    SealedBranchKey,
    UnknownBranchKeyVersion,
    version_of,
)
from touchpoints.privacy.cipher import DecryptionFailed
from touchpoints.privacy.keyring import NewDataKey, SubjectKeyring
from touchpoints.privacy.rotation import RateLimit


def branch_key(version: str | None = None) -> BranchKey:
    return BranchKey("subject-data-keys", version or new_version(), os.urandom(32))


class Store:
    """A branch key table in memory; counts unseals as KMS Decrypts would be billed, and reads."""

    def __init__(self, *versions: BranchKey, active: BranchKey | None = None) -> None:
        self.versions = {v.version: v for v in versions}
        self.active_key = active
        self.reads = 0
        self.unseals = 0

    def active(self) -> SealedBranchKey | None:
        self.reads += 1
        return None if self.active_key is None else SealedBranchKey(self.active_key.version, b"sealed")

    def stored(self, version: str) -> SealedBranchKey:
        self.reads += 1
        if version not in self.versions:
            raise UnknownBranchKeyVersion(version)
        return SealedBranchKey(version, b"sealed")

    def unseal(self, sealed: SealedBranchKey) -> BranchKey:
        self.unseals += 1
        return self.versions[sealed.version]


class Kms:
    """The legacy wrapper: KMS's own data keys, by prefix."""

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, subject_id: str) -> NewDataKey:
        self.calls += 1
        key = os.urandom(32)
        return NewDataKey(key, b"\x01\x02\x02\x00kms:" + key)

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        self.calls += 1
        return wrapped.removeprefix(b"\x01\x02\x02\x00kms:")


def test_an_envelope_names_its_version_and_opens_only_for_its_subject():
    key, data_key = branch_key(), os.urandom(32)
    wrapped = key.wrap("sub_a", data_key)
    assert len(wrapped) == WRAPPED_BYTES and wrapped.startswith(MAGIC)
    assert version_of(wrapped) == key.version
    assert key.unwrap("sub_a", wrapped) == data_key
    assert wrapped != key.wrap("sub_a", data_key)  # a fresh salt and nonce each time
    with pytest.raises(DecryptionFailed):
        key.unwrap("sub_b", wrapped)  # copied to another person's vault item
    with pytest.raises(DecryptionFailed):
        BranchKey(key.branch_key_id, key.version, os.urandom(32)).unwrap("sub_a", wrapped)  # another key, same name
    with pytest.raises(DecryptionFailed):
        branch_key().unwrap("sub_a", wrapped)  # another version
    tampered = bytearray(wrapped)
    tampered[len(MAGIC)] ^= 1  # the version named in the header is bound too
    with pytest.raises(DecryptionFailed):
        BranchKey(key.branch_key_id, version_of(bytes(tampered)) or "", key.material).unwrap("sub_a", bytes(tampered))


@pytest.mark.parametrize(
    "legacy",
    [b"\x01\x02\x02\x00" + b"\xa5" * 180, b"a1b2c3d4-0000-4000-8000-000000000000" + b"\x5a" * 60, MAGIC + b"short"],
    ids=["kms", "moto", "truncated"],
)
def test_kms_ciphertexts_are_told_apart_from_envelopes(legacy):
    assert version_of(legacy) is None


def test_a_branch_key_never_shows_its_material():
    key = branch_key()
    assert key.material.hex() not in repr(key) and str(key.material) not in repr(key)
    assert "plaintext" not in repr(NewDataKey(b"k" * 32, b"w"))


def test_the_cache_unseals_each_version_once_per_ttl():
    now = [0.0]
    active = branch_key()
    store = Store(active, active=active)
    cache = BranchKeyCache(store, ttl_seconds=600, clock=lambda: now[0])
    for _ in range(1000):
        assert cache.active() is active
        assert cache.version(active.version) is active  # the active read fills the version too
    assert (store.reads, store.unseals) == (1, 1)
    now[0] = 601
    cache.version(active.version)
    assert (store.reads, store.unseals) == (2, 2)
    cache.clear()
    cache.active()
    assert store.unseals == 3


def test_a_version_held_already_costs_no_kms_call_when_it_is_the_active_one():
    key = branch_key()
    store = Store(key, active=key)
    cache = BranchKeyCache(store)
    cache.version(key.version)  # a known person's key unwrapped first
    assert cache.active() is key  # then a new person's: the pointer is read, nothing unsealed again
    assert (store.reads, store.unseals) == (2, 1)


def test_new_keys_are_made_locally_and_opened_under_the_version_they_name():
    old, new = branch_key(), branch_key()
    store, kms = Store(old, new, active=new), Kms()
    wrapper = HierarchicalKeyWrapper(BranchKeyCache(store), kms)
    made = [wrapper.generate(f"sub_{n}") for n in range(100)]
    assert {version_of(m.wrapped) for m in made} == {new.version}
    assert all(wrapper.unwrap(f"sub_{n}", m.wrapped) == m.plaintext for n, m in enumerate(made))
    under_old = old.wrap("sub_x", b"x" * 32)
    assert wrapper.unwrap("sub_x", under_old) == b"x" * 32
    legacy = kms.generate("sub_y")
    assert wrapper.unwrap("sub_y", legacy.wrapped) == legacy.plaintext
    assert kms.calls == 2 and store.unseals == 2  # the active version (unsealed once), the old version (once)


def test_before_the_first_branch_key_data_keys_are_made_by_kms():
    kms = Kms()
    wrapper = HierarchicalKeyWrapper(BranchKeyCache(Store()), kms)
    made = wrapper.generate("sub_a")
    assert version_of(made.wrapped) is None and kms.calls == 1


def test_a_retired_version_fails_as_undecryptable_not_as_an_outage():
    wrapper = HierarchicalKeyWrapper(BranchKeyCache(Store(active=None)), Kms())
    with pytest.raises(DecryptionFailed):
        wrapper.unwrap("sub_a", branch_key().wrap("sub_a", b"k" * 32))


def test_an_unavailable_store_is_an_outage():
    class Down(Store):
        def active(self) -> SealedBranchKey | None:
            raise EncryptionUnavailable("kms is down")

    with pytest.raises(EncryptionUnavailable):
        HierarchicalKeyWrapper(BranchKeyCache(Down()), Kms()).generate("sub_a")


def test_the_keyring_reuses_a_key_for_the_same_wrapped_bytes_only():
    key = branch_key()
    store = Store(key, active=key)
    counting = HierarchicalKeyWrapper(BranchKeyCache(store), Kms())
    unwraps = []

    class Counted:
        def generate(self, subject_id: str) -> NewDataKey:
            return counting.generate(subject_id)

        def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
            unwraps.append(subject_id)
            return counting.unwrap(subject_id, wrapped)

    keyring = SubjectKeyring(Counted())
    data_key = os.urandom(32)
    wrapped = key.wrap("sub_a", data_key)
    first = keyring.cipher_from_wrapped("sub_a", wrapped)
    # a retry, a re-read, a second touchpoint: the same bytes, no unwrap
    assert all(keyring.cipher_from_wrapped("sub_a", bytes(wrapped)) is first for _ in range(3))
    assert unwraps == ["sub_a"]
    # the vault item re-wrapped by a rotation (same data key, other bytes): unwrapped again, and it is the same key
    again = keyring.cipher_from_wrapped("sub_a", key.wrap("sub_a", data_key))
    assert unwraps == ["sub_a", "sub_a"]
    assert again.decrypt("email", first.encrypt("email", "ana@example.mx")) == "ana@example.mx"
    # a new subject's key is held with the bytes it was stored as
    made, cipher = keyring.new_subject_key("sub_b")
    assert keyring.cipher_from_wrapped("sub_b", made.wrapped) is cipher
    assert unwraps == ["sub_a", "sub_a"]


def test_the_rate_limit_spaces_calls(monkeypatch):
    import touchpoints.privacy.rotation as rotation

    now = [0.0]
    waits: list[float] = []
    monkeypatch.setattr(rotation.time, "sleep", waits.append)
    limit = RateLimit(10, clock=lambda: now[0])
    for _ in range(3):
        limit.wait()
    assert waits == pytest.approx([0.1, 0.2])
