"""Given identifiers built to collide, tokens match exactly when the person is the same by design
(an email in another case or Unicode form, a phone number in another format) and never otherwise
(different people, or the same text as another kind of identifier); key separators cannot be smuggled."""

from __future__ import annotations

import unicodedata
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import factories
from tests.people import person, register_pii
from tests.reliability import tally
from touchpoints.model import IdentifierKind
from touchpoints.privacy.tokenizer import Tokenizer

TOKENIZER = Tokenizer(b"k" * 48)


def tokens_of(aws, kind: str) -> list[dict]:
    return [i for i in aws.scan("IdentityIndexTable") if i["pk"]["S"].startswith(f"TOKEN#t1.{kind}.")]


def test_an_email_in_another_case_or_unicode_form_is_the_same_person(lambdas, local_aws):
    composed = unicodedata.normalize("NFC", "José.Quiñones77@Example.MX")
    variants = [composed, composed.upper(), unicodedata.normalize("NFD", composed), "josé.quiñones77@EXAMPLE.mx"]
    register_pii(*variants, *(v.lower() for v in variants))
    profiles = set()
    for variant in variants:
        status, body = lambdas.post("email", factories.email(person(0), "open", recipient=variant))
        tally.add("hostile_cases")
        assert status == 200, body
        profiles.add(body["results"][0]["profile_id"])
    assert len(profiles) == 1
    assert len(tokens_of(local_aws, "email")) == 1


def test_a_phone_number_in_any_format_is_the_same_person(lambdas, local_aws):
    local = "5587654321"
    variants = ["55 8765 4321", "(55) 8765-4321", "+52 55 8765 4321", "+525587654321", "52 55 8765 4321", local]
    register_pii(*variants, "+52" + local, "52" + local)
    profiles = set()
    for variant in variants:
        status, body = lambdas.post("sms", factories.sms(person(0), "click", phone=variant))
        tally.add("hostile_cases")
        assert status == 200, (variant, body)
        profiles.add(body["results"][0]["profile_id"])
    assert len(profiles) == 1
    assert len(tokens_of(local_aws, "phone")) == 1


def test_the_same_number_as_phone_and_whatsapp_gives_two_tokens_of_one_person(lambdas, local_aws):
    p = person(960)
    status, body = lambdas.post("contact-center", factories.contact_center(p, medium="phone"))
    assert status == 200, body
    phone, whatsapp = tokens_of(local_aws, "phone"), tokens_of(local_aws, "whatsapp")
    assert len(phone) == len(whatsapp) == 1
    assert phone[0]["pk"] != whatsapp[0]["pk"]
    assert phone[0]["subject_id"] == whatsapp[0]["subject_id"]


def test_opaque_ids_are_compared_exactly(lambdas):
    register_pii("appuser-CaseX-1", "appuser-casex-1")
    signed_in = [{"purpose": "personalization", "granted": True}]  # a basis to link the app user id
    lambdas.post("app", factories.app(person(961), app_user_id="appuser-CaseX-1", customer=None, consent=signed_in))
    lambdas.post("app", factories.app(person(962), app_user_id="appuser-casex-1", customer=None, consent=signed_in))
    tally.add("hostile_cases", 2)
    first, second = (lambdas.aws.subject_of("app_user_id", v) for v in ("appuser-CaseX-1", "appuser-casex-1"))
    assert first and second and first != second


@pytest.mark.parametrize(
    ("channel", "field", "value"),
    [
        ("store", "store_id", "TDA:042"),  # the ticket identifier is store_id:folio
        ("store", "ticket_folio", "F:1"),
        ("email", "event_id", "evt#EVENT#x"),  # item keys are EVENT#<channel>#<event_id>
        ("sms", "event_id", "../PROFILE"),
        ("push", "push_token", "tok\u0000en"),
    ],
)
def test_key_separators_cannot_be_smuggled_into_identifiers(lambdas, local_aws, channel, field, value):
    payload = factories.CHANNEL_PAYLOADS[channel](person(963))
    payload[field] = value
    status, body = lambdas.post(channel, payload)
    tally.add("hostile_cases")
    assert status == 422, body
    assert local_aws.scan("ProfileTable") == []


kinds = st.sampled_from(list(IdentifierKind))
values = st.text(min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(first=st.tuples(kinds, values), second=st.tuples(kinds, values))
def test_different_identifiers_never_share_a_token(first, second):
    tally.add("hostile_cases")
    if first != second:
        assert TOKENIZER.token(*first) != TOKENIZER.token(*second)
    else:
        assert TOKENIZER.token(*first) == TOKENIZER.token(*second)


@given(value=st.text(min_size=1, max_size=40))
@settings(max_examples=100, deadline=None)
def test_the_same_text_as_two_kinds_of_identifier_gives_two_tokens(value):
    tally.add("hostile_cases")
    tokens = {kind: TOKENIZER.token(kind, value) for kind in IdentifierKind}
    for a, b in combinations(IdentifierKind, 2):
        assert tokens[a] != tokens[b], (a, b)
