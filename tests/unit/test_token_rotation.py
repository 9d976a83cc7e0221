"""The tokenization secret's versions: chained tokens, the rotation phases and the secret document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchpoints.model import IdentifierKind
from touchpoints.privacy.token_rotation import (
    RotationRefused,
    finished,
    migrating,
    parse_secret,
    secret_text,
    started,
)
from touchpoints.privacy.tokenizer import Phase, Tokenizer, TokenSecrets, token_kind, token_version, vouch_proof
from touchpoints.trust import load_trust_policy

S1 = b"a" * 40
S2 = b"b" * 48
PHONE = IdentifierKind.PHONE
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def phases() -> dict[str, TokenSecrets]:
    stable = TokenSecrets({"t1": S1})
    dual = started(stable, S2)
    moving = migrating(dual)
    return {"stable": stable, "dual": dual, "migrating": moving, "after": finished(moving, NOW, timedelta(days=7))}


def test_a_plain_secret_is_version_one_and_its_tokens_are_unchanged():
    legacy = Tokenizer(S1)
    assert parse_secret(S1.decode()) == TokenSecrets({"t1": S1})
    assert Tokenizer(parse_secret(S1.decode())).token(PHONE, "+525512345678") == legacy.token(PHONE, "+525512345678")
    assert legacy.tokens(PHONE, "+525512345678") == (legacy.token(PHONE, "+525512345678"),)  # one lookup outside


def test_the_next_version_is_chained_from_the_previous_token_without_the_value():
    state = phases()
    t1 = Tokenizer(state["stable"]).token(PHONE, "+525512345678")
    after = Tokenizer(state["after"])
    t2 = after.token(PHONE, "+525512345678")
    assert token_version(t2) == "t2" and token_kind(t2) == "phone" and t2 != t1
    assert after.chained(t1, "t2") == t2 == after.current(t1)
    assert after.lineage(t1) == (t1, t2) and after.live(t1) == (t2,)
    with pytest.raises(ValueError):
        after.chained(t2, "t2")


def test_each_phase_writes_one_version_and_reads_the_live_ones():
    state = phases()
    tokens = {name: Tokenizer(s).tokens(PHONE, "+525512345678") for name, s in state.items()}
    t1, t2 = tokens["stable"][0], tokens["after"][0]
    assert tokens["dual"] == (t1, t2)  # written in t1, t2 looked up too
    assert tokens["migrating"] == (t2, t1)  # written in t2, t1 looked up too
    assert Tokenizer(state["dual"]).live(t1) == (t1, t2)


def test_same_value_kinds_are_looked_up_in_both_versions_during_a_rotation():
    trust = load_trust_policy()
    during = Tokenizer(phases()["migrating"])
    found = trust.value_tokens(during, PHONE, "+525512345678")
    assert {token_kind(t) for t in found} == {"phone", "whatsapp"} and len(found) == 4
    assert found[0] == during.token(PHONE, "+525512345678")


def test_the_document_round_trips_and_a_rotation_cannot_start_twice():
    for state in phases().values():
        assert parse_secret(secret_text(state)) == state
    with pytest.raises(RotationRefused):
        started(phases()["dual"])
    with pytest.raises(RotationRefused):
        finished(phases()["dual"], NOW, timedelta(days=1))
    with pytest.raises(ValueError):
        TokenSecrets({"t1": S1, "t3": S2})  # a gap in the chain


def test_vouching_keys_rotate_with_an_overlap_window():
    state = phases()
    old = Tokenizer(state["stable"])
    old_proof = vouch_proof(old.vouching_key("web"), "web", "e1", "email", "ana@example.com")
    during, after = Tokenizer(state["migrating"]), Tokenizer(state["after"])
    new_proof = vouch_proof(after.vouching_key("web"), "web", "e1", "email", "ana@example.com")
    assert old.vouching_key("web") == after.vouching_key("web", "t1") != after.vouching_key("web")
    assert during.vouch_holds("web", "e1", "email", "ana@example.com", old_proof)
    assert during.vouch_holds("web", "e1", "email", "ana@example.com", new_proof)
    assert after.vouch_holds("web", "e1", "email", "ana@example.com", old_proof, now=NOW + timedelta(days=6))
    assert not after.vouch_holds("web", "e1", "email", "ana@example.com", old_proof, now=NOW + timedelta(days=8))
    assert after.vouch_holds("web", "e1", "email", "ana@example.com", new_proof, now=NOW + timedelta(days=8))
    assert not old.vouch_holds("web", "e1", "email", "ana@example.com", new_proof)


def test_an_unlinked_subject_keeps_its_id_across_a_rotation():
    ids = {Tokenizer(s).unlinked_subject_id("web", "evt-1") for s in phases().values()}
    assert len(ids) == 1


def test_phase_names_are_what_the_document_stores():
    assert {p.value for p in Phase} == {"stable", "dual", "migrating"}
