"""The OpenAPI document and the validator are one definition: for bodies the validator refuses under a rule the
document states (an identifier's shape, a required combination, a consent block, what a channel may vouch for), the
document's JSON Schema refuses them too, and it admits the bodies the validator accepts."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from tests import factories
from tests.people import person
from touchpoints.api.contact import contacts_model
from touchpoints.channels import PAYLOAD_MODELS
from touchpoints.channels.common import ConsentSubmission, Order
from touchpoints.model import Channel

P = person(91)


def document_admits(model: type[BaseModel], body: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(model.model_json_schema()).is_valid(body)


def validator_admits(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def without(body: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in fields}


# Rules that ingestion checks (it answers 422 the same way) rather than the model; the e2e acceptance test sends them.
AT_INGESTION = {
    "a web page view that names no one",
    "personal data without a consent block",
    "a web vouch for an identifier the touchpoint lacks",
    "a store that vouches",
    "an unknown consent purpose",
}
CASES: list[tuple[str, Channel, dict[str, Any], bool]] = [
    ("a web sign-up", Channel.WEB, factories.web(P, "sign_up"), True),
    ("a web purchase without its order", Channel.WEB, factories.web(P, "purchase", order=None), False),
    (
        "a web page view that names no one",
        Channel.WEB,
        without(factories.web(P, "page_view"), "customer", "anonymous_id", "consent"),
        False,
    ),
    (
        "personal data without a consent block",
        Channel.WEB,
        without(factories.web(P, "sign_up"), "consent"),
        False,
    ),
    (
        "a web vouch for an identifier the touchpoint lacks",
        Channel.WEB,
        {
            **factories.web(P, "page_view", customer=None, consent=None),
            "verified": [{"kind": "email", "proof": "a" * 43}],
        },
        False,
    ),
    ("a social handle with a space", Channel.WEB, factories.web(P, "sign_up", anonymous_id="two words"), False),
    ("an app push registration", Channel.APP, factories.app(P, "push_registration"), True),
    (
        "a push registration without the token",
        Channel.APP,
        factories.app(P, "push_registration", push_token=None),
        False,
    ),
    (
        "an alias outside a login",
        Channel.APP,
        factories.app(P, "app_open", previous_anonymous_id="anon-1"),
        False,
    ),
    ("a WhatsApp conversation", Channel.CONTACT_CENTER, factories.contact_center(P, "whatsapp"), True),
    (
        "a call without the caller's phone",
        Channel.CONTACT_CENTER,
        factories.contact_center(P, "phone", caller={"messenger_id": "psid-1"}),
        False,
    ),
    ("a cash sale", Channel.STORE, factories.store(None), True),
    ("a store that vouches", Channel.STORE, {**factories.store(None), "verified": [{"kind": "ticket"}]}, False),
    (
        "an unknown consent purpose",
        Channel.STORE,
        {**factories.store(None), "consent": [{"purpose": "profiling", "granted": True}]},
        False,
    ),
]


@pytest.mark.parametrize(("case", "channel", "body", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_the_document_and_the_validator_agree(case: str, channel: Channel, body: dict[str, Any], accepted: bool):
    model = PAYLOAD_MODELS[channel]
    assert document_admits(model, body) is accepted, case
    if case not in AT_INGESTION:
        assert validator_admits(model, body) is accepted, case


def test_a_consent_submission_names_someone():
    body = {
        "event_id": "c-1",
        "occurred_at": "2026-01-01T00:00:00Z",
        "subject": {"email": None},
        "consent": [{"purpose": "marketing", "granted": False}],
    }
    assert not document_admits(ConsentSubmission, body) and not validator_admits(ConsentSubmission, body)
    body["subject"] = {"email": P.email}
    assert document_admits(ConsentSubmission, body) and validator_admits(ConsentSubmission, body)


def test_a_channel_is_documented_with_the_contact_kinds_it_sends():
    contact = contacts_model(Channel.SMS).model_json_schema()["$defs"]["SmsContactIn"]
    assert contact["properties"]["kind"]["enum"] == ["sms"]


def test_a_whole_number_written_with_a_decimal_point_is_that_integer():
    """JSON Schema's integer includes 3.0, and JavaScript writes no difference: the validator agrees."""
    assert Order.model_validate({"order_id": "o-1", "total": 10, "items": 3.0}).items == 3
    for refused in (3.5, "3", True):
        with pytest.raises(ValidationError):
            Order.model_validate({"order_id": "o-1", "total": 10, "items": refused})
