"""The trust policy (policies/trust.yaml): whose keys are public, who may vouch, and when an identifier may attach."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml
from pydantic import ValidationError

from touchpoints.model import Channel, IdentifierKind
from touchpoints.privacy.tokenizer import Tokenizer, vouch_proof
from touchpoints.trust import TrustPolicy, load_trust_policy

POLICY = load_trust_policy()
IDENTIFIED = {"email": 1, "anonymous_id": 2}
ANONYMOUS = {"anonymous_id": 3, "ticket": 1, "phone": 0}


def test_web_and_app_keys_are_public_and_every_other_channel_is_private():
    assert {c for c in Channel if POLICY.is_public(c)} == {Channel.WEB, Channel.APP}


def test_a_policy_that_forgets_a_channel_is_refused_at_load():
    data = yaml.safe_load(resources.files("touchpoints.policies").joinpath("trust.yaml").read_text())
    del data["channels"]["store"]
    with pytest.raises(ValidationError, match="store"):
        TrustPolicy.model_validate(data)


def test_a_public_channel_attaches_an_unverified_identifier_to_an_anonymous_or_new_profile_only():
    assert POLICY.may_attach("web", "phone", verified=False, profile_links={})
    assert POLICY.may_attach("web", "phone", verified=False, profile_links=ANONYMOUS)
    assert not POLICY.may_attach("web", "phone", verified=False, profile_links=IDENTIFIED)
    assert not POLICY.may_attach(Channel.APP, IdentifierKind.ANONYMOUS_ID, verified=False, profile_links=IDENTIFIED)


def test_a_verified_touchpoint_or_a_private_channel_may_attach_to_an_identified_profile():
    assert POLICY.may_attach("web", "phone", verified=True, profile_links=IDENTIFIED)
    assert POLICY.may_attach("store", "phone", verified=False, profile_links=IDENTIFIED)


def test_nobody_attaches_past_the_kinds_link_limit():
    full = {"anonymous_id": POLICY.link_limit("anonymous_id")}
    assert not POLICY.may_attach("store", "anonymous_id", verified=True, profile_links=full)
    assert POLICY.may_attach("store", "email", verified=False, profile_links=full)


def test_vouching_rights_are_per_channel_and_kind():
    assert POLICY.may_vouch("web", "email")
    assert POLICY.may_vouch("sms", "phone")
    assert not POLICY.may_vouch("sms", "email")
    assert not POLICY.may_vouch("store", "email")


def test_a_vouch_proof_holds_only_for_its_channel_touchpoint_and_value():
    tokenizer = Tokenizer(b"s" * 32)
    proof = vouch_proof(tokenizer.vouching_key("web"), "web", "evt-1", "email", "ana@example.mx")
    assert tokenizer.vouch_holds("web", "evt-1", "email", "ana@example.mx", proof)
    assert not tokenizer.vouch_holds("app", "evt-1", "email", "ana@example.mx", proof)
    assert not tokenizer.vouch_holds("web", "evt-2", "email", "ana@example.mx", proof)
    assert not tokenizer.vouch_holds("web", "evt-1", "email", "eve@example.mx", proof)
    assert not tokenizer.vouch_holds("web", "evt-1", "email", "ana@example.mx", proof[:-1] + "A")
    assert tokenizer.vouching_key("web") != Tokenizer(b"t" * 32).vouching_key("web")
