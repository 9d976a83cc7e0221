"""Each channel's payload becomes the canonical touchpoint: identifiers, personal data, trace and consent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests import factories
from tests.people import person
from touchpoints.channels import PAYLOAD_MODELS, TouchpointBatch
from touchpoints.model import Channel, IdentifierKind, PersonalField, TraceKind

P = person(90)


def parse(channel: Channel, payload: dict):
    return PAYLOAD_MODELS[channel].model_validate(payload).to_touchpoint(channel)


def test_web_signup():
    tp = parse(Channel.WEB, factories.web(P, "sign_up"))
    assert tp.identifiers[IdentifierKind.EMAIL] == P.email.lower()
    assert tp.identifiers[IdentifierKind.PHONE] == P.phone_e164
    assert tp.personal_data[PersonalField.RFC] == P.rfc
    assert tp.trace.kind is TraceKind.VISIT and tp.trace.action == "sign_up"
    assert tp.consent_declared and {g.purpose for g in tp.consents} == {"personalization", "analytics", "marketing"}


def test_web_purchase_is_transactional_and_needs_its_order():
    tp = parse(Channel.WEB, factories.web(P, "purchase"))
    assert tp.trace.kind is TraceKind.TRANSACTIONAL
    assert tp.trace.details["home_delivery"] is True
    with pytest.raises(ValidationError, match="order_required"):
        parse(Channel.WEB, factories.web(P, "purchase", order=None))


def test_app_push_registration_keeps_the_push_token_as_contact():
    tp = parse(Channel.APP, factories.app(P, "push_registration"))
    assert tp.identifiers[IdentifierKind.APP_USER_ID] == P.app_user_id
    assert tp.personal_data[PersonalField.PUSH_TOKEN] == P.push_token


@pytest.mark.parametrize(
    ("channel", "builder", "event", "granted"),
    [
        (Channel.EMAIL, factories.email, "unsubscribe", False),
        (Channel.EMAIL, factories.email, "subscribe", True),
        (Channel.SMS, factories.sms, "opt_out", False),
        (Channel.SMS, factories.sms, "opt_in", True),
        (Channel.PUSH, factories.push, "opt_out", False),
    ],
)
def test_subscription_events_are_consent_on_their_channel_and_no_trace(channel, builder, event, granted):
    tp = parse(channel, builder(P, event))
    assert tp.trace is None
    assert [(g.purpose, g.scope, g.granted) for g in tp.consents] == [("marketing", channel.value, granted)]


def test_email_and_sms_engagement_are_visits_matched_by_the_address():
    assert parse(Channel.EMAIL, factories.email(P, "click")).identifiers == {IdentifierKind.EMAIL: P.email.lower()}
    sms = parse(Channel.SMS, factories.sms(P, "inbound"))
    assert sms.identifiers == {IdentifierKind.PHONE: P.phone_e164}
    assert sms.trace.kind is TraceKind.VISIT


def test_contact_center_conversation_is_transactional_and_keeps_whatsapp():
    tp = parse(Channel.CONTACT_CENTER, factories.contact_center(P))
    assert tp.trace.kind is TraceKind.TRANSACTIONAL and tp.trace.action == "complaint"
    assert tp.personal_data[PersonalField.WHATSAPP] == P.phone_e164
    assert tp.identifiers[IdentifierKind.MESSENGER_ID] == P.messenger_id
    with pytest.raises(ValidationError, match="caller_id_required"):
        parse(Channel.CONTACT_CENTER, factories.contact_center(P, medium="messenger", caller={"phone": P.phone}))


def test_a_cash_buyer_is_known_only_by_the_ticket():
    tp = parse(Channel.STORE, factories.store(None, folio="F-1"))
    assert tp.identifiers == {IdentifierKind.TICKET: "TDA-042:F-1"}
    assert tp.personal_data == {}
    assert tp.trace.kind is TraceKind.TRANSACTIONAL


def test_a_single_touchpoint_is_a_batch_of_one():
    model = TouchpointBatch[PAYLOAD_MODELS[Channel.SMS]]
    assert len(model.model_validate(factories.sms(P)).touchpoints) == 1
    assert len(model.model_validate({"touchpoints": [factories.sms(P), factories.sms(P)]}).touchpoints) == 2
