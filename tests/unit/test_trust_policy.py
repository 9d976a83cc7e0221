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


# The rules as ingestion applies them, against the in-memory store (no AWS)


def _web(event_id: str, *, ticket: str | None = None, email: str | None = None, name: str, granted: bool = True):
    from datetime import UTC, datetime

    from touchpoints.model import ConsentGrant, PersonalField, Touchpoint, Trace, TraceKind

    identifiers = {IdentifierKind.TICKET: ticket} if ticket else {}
    if email:
        identifiers[IdentifierKind.EMAIL] = email
    at = datetime(2026, 11, 20, 12, tzinfo=UTC)
    return Touchpoint(
        channel=Channel.WEB,
        event_id=event_id,
        occurred_at=at,
        identifiers=identifiers,
        personal_data={PersonalField.GIVEN_NAME: name},
        trace=Trace(TraceKind.TRANSACTIONAL, "ticket_registration"),
        consents=(ConsentGrant("marketing", "all", granted, at),),
        consent_declared=True,
    )


def test_an_anonymous_profile_takes_a_public_channels_identifiers_but_never_loses_a_verified_value():
    from tests.unit.test_ingestion_service import InMemoryStore, ingest, service, touchpoint

    store = InMemoryStore()
    svc = service(store)
    # Given a cash buyer whose ticket and name a store (private) recorded: anonymous, with a verified name
    buyer = ingest(svc, touchpoint("pos-1", ticket="TDA-1:F-1")).profile_id
    assert store.profiles[buyer]["fields"]["given_name"].verified
    name = store.profiles[buyer]["fields"]["given_name"]
    # When the web key sends the ticket with another name (from a cold container, which reads the store)
    ingest(service(store), _web("web-1", ticket="TDA-1:F-1", name="Eve"))
    # Then the touchpoint is stored on the buyer, but an unverified value never replaces the verified one
    assert (buyer, "web", "web-1") in store.events
    assert store.profiles[buyer]["fields"]["given_name"] == name
    # and when it registers the ticket with an email, the email is linked to the buyer (still anonymous)
    ingest(svc, _web("web-2", ticket="TDA-1:F-1", email="ana@example.mx", name="Eve"))
    email_token = Tokenizer(b"x" * 32).token(IdentifierKind.EMAIL, "ana@example.mx")
    assert store.tokens[email_token].subject_id == buyer


def test_an_unproven_claim_on_an_identified_profile_keeps_its_trace_and_a_withdrawal_only():
    from tests.unit.test_ingestion_service import InMemoryStore, ingest, service, touchpoint

    store = InMemoryStore()
    svc = service(store)
    known = ingest(svc, touchpoint("pos-1", email="ana@example.mx")).profile_id
    fields = dict(store.profiles[known]["fields"])
    # A "yes" and a new name from the web key change nothing but the trace
    ingest(svc, _web("web-1", email="ana@example.mx", name="Eve", granted=True))
    assert store.profiles[known]["fields"] == fields and "marketing:all" not in store.profiles[known]["consents"]
    assert (known, "web", "web-1") in store.events
    # while a "no" is recorded: it can only reduce what is done with the person's data
    ingest(svc, _web("web-2", email="ana@example.mx", name="Eve", granted=False))
    assert store.profiles[known]["consents"]["marketing:all"].granted is False


def test_the_demos_back_end_signs_vouches_exactly_as_the_layer_checks_them():
    from local_runner.commands.demo_data import back_end_proof, vouching_keys

    secret = "a-tokenization-secret-of-at-least-32-bytes"
    tokenizer = Tokenizer(secret.encode())
    assert vouching_keys(secret)("app") == tokenizer.vouching_key("app")
    proof = back_end_proof(vouching_keys(secret)("app"), "app", "evt-9", "email", "ana@example.mx")
    assert proof == vouch_proof(tokenizer.vouching_key("app"), "app", "evt-9", "email", "ana@example.mx")
    assert tokenizer.vouch_holds("app", "evt-9", "email", "ana@example.mx", proof)
