"""Access (export), rectification, objection and request status, as the compliance operator calls them."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import boto3

from tests import factories
from tests.conftest import find_pii
from tests.integration.compliance_helpers import call, erase, status
from tests.people import person
from touchpoints.channels import PAYLOAD_MODELS
from touchpoints.ingestion import ingest_touchpoints
from touchpoints.model import Channel
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.wiring import channels

CASE = {"regulation": "gdpr", "case_reference": "CASE-2026-0100"}


def field_value(lambdas, subject_id: str, name: str) -> str:
    dynamodb = boto3.client("dynamodb")
    profile = dynamodb.get_item(
        TableName=lambdas.aws.table("ProfileTable"), Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}}
    )["Item"]
    vault = dynamodb.get_item(TableName=lambdas.aws.table("KeyVaultTable"), Key={"pk": {"S": f"SUBJECT#{subject_id}"}})[
        "Item"
    ]
    key = factories.unwrapped_key(subject_id, vault["wrapped_key"]["B"])
    return SubjectCipher(subject_id, key).decrypt(name, bytes(profile["fields"]["M"][name]["M"]["v"]["B"]))


def test_export_gives_everything_held_decrypted(lambdas):
    # Given a person seen on the web, at a store and at the contact center
    p = person(130)
    lambdas.post("web", factories.web(p, "purchase"))
    subject_id = lambdas.aws.subject_of("email", p.email)
    lambdas.post("store", factories.store(p, folio="F-777"))
    lambdas.post("contact-center", factories.contact_center(p))

    # When compliance asks for the export by phone number
    code, document = call(lambdas, "POST", "exports", {"subject": {"phone": p.phone}, **CASE}, personal_answer=True)

    # Then the document holds the values in clear, the consents and every interaction with its details
    assert code == 200, document
    assert document["format"] == "touchpoints.subject-export/1"
    assert document["subject"]["subject_id"] == subject_id
    values = {name: entry["value"] for name, entry in document["personal_data"].items()}
    assert values["email"] == p.email.lower() and values["rfc"] == p.rfc and values["phone"] == p.phone_e164
    assert values["postal_address"]["street"] == p.street
    assert {"personalization:all", "analytics:all", "marketing:all"} <= set(document["consents"])
    assert len(document["interactions"]) == 3
    store = next(i for i in document["interactions"] if i["channel"] == "store")
    assert store["details"]["ticket"] == "TDA-042:F-777" and store["kind"] == "transactional"
    assert document["consent_history"]
    json.dumps(document)  # portable: plain JSON
    # and the audit says who exported how much, without any of it
    audit = lambdas.aws.scan("AuditTable")
    done = [i for i in audit if i["action"]["S"] == "export.completed"]
    assert done and done[0]["counts"]["M"]["interactions"]["N"] == "3"
    assert done[0]["actor"]["S"].endswith("/case-officer-7")
    assert not find_pii(json.dumps(audit, default=str))


def test_a_touchpoints_answers_are_one_history_item_and_the_export_lists_each(lambdas):
    # Given a person who answers every purpose on one web purchase
    p = person(131)
    purchase = factories.web(p, "purchase")
    lambdas.post("web", purchase)
    subject_id = lambdas.aws.subject_of("email", p.email)
    # Then the answers are one history item (one write in the touchpoint's transaction), every answer sealed in it
    answers = factories.opened_items(lambdas.aws, "consent", subject_id)
    assert len(answers) == len(purchase["consent"]) >= 3
    assert len({a["sk"]["S"] for a in answers}) == 1
    # and the export lists each answer with the touchpoint that gave it; the audit counts answers, not items
    code, document = call(lambdas, "POST", "exports", {"subject": {"email": p.email}, **CASE}, personal_answer=True)
    assert code == 200, document
    history = document["consent_history"]
    assert sorted(h["consent"] for h in history) == sorted(a["key"] for a in answers)
    assert {h["reference"] for h in history} == {purchase["event_id"]}
    done = [i for i in lambdas.aws.scan("AuditTable") if i["action"]["S"] == "export.completed"]
    assert [d["counts"]["M"]["consent_changes"]["N"] for d in done] == [str(len(answers))]


def test_export_of_someone_not_held_is_404(lambdas):
    code, body = call(lambdas, "POST", "exports", {"subject": {"email": person(131).email}, **CASE})
    assert code == 404 and body["error"]["code"] == "subject_not_found"
    assert status(lambdas, lambdas.aws.scan("ComplianceTable")[0]["request_id"]["S"])["state"] == "failed"


def test_rectification_corrects_values_and_moves_the_identifier(lambdas):
    # Given a person, and the corrected values they asked for
    p, corrected = person(132), person(133)
    lambdas.post("web", factories.web(p))
    subject_id = lambdas.aws.subject_of("email", p.email)
    before = boto3.client("dynamodb").get_item(
        TableName=lambdas.aws.table("ProfileTable"), Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}}
    )["Item"]
    body = {
        "subject": {"subject_id": subject_id},
        "corrections": {"family_name": corrected.family_name, "email": corrected.email},
        **CASE,
    }

    # When compliance rectifies them
    code, answer = call(lambdas, "POST", "rectifications", body)

    # Then the profile holds the corrected values, encrypted under the subject's key
    assert code == 200, answer
    assert answer["state"] == "completed" and answer["fields_corrected"] == ["email", "family_name"]
    assert answer["counts"] == {"fields_corrected": 2, "tokens_released": 1, "tokens_claimed": 1}
    assert field_value(lambdas, subject_id, "family_name") == corrected.family_name
    assert field_value(lambdas, subject_id, "email") == corrected.email.lower()
    after = boto3.client("dynamodb").get_item(
        TableName=lambdas.aws.table("ProfileTable"), Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}}
    )["Item"]
    assert int(after["version"]["N"]) == int(before["version"]["N"]) + 1
    # and the new email finds the same person, while the old one no longer does
    assert lambdas.post("email", factories.email(corrected))[1]["results"][0]["profile_id"] == subject_id
    assert lambdas.post("email", factories.email(p))[1]["results"][0]["profile_id"] != subject_id


def test_rectification_to_another_persons_identifier_is_refused(lambdas):
    a, b = person(134), person(135)
    lambdas.post("web", factories.web(a))
    lambdas.post("sms", factories.sms(b))
    body = {"subject": {"email": a.email}, "corrections": {"phone": b.phone}, **CASE}
    code, answer = call(lambdas, "POST", "rectifications", body)
    assert code == 409 and answer["error"]["code"] == "identifier_in_use"


def test_objection_is_honoured_by_the_next_touchpoint_even_in_a_warm_container(lambdas):
    # Given a person who consented to everything on the web, and a warm web container that cached it
    p = person(136)
    lambdas.post("web", factories.web(p))
    warm = channels.ingestion_service()
    lambdas.post("web", factories.web(p, "page_view"))
    # and a channel-specific yes to email marketing
    lambdas.post("email", factories.email(p, "open"))

    # When compliance records the person's objection to personalization and to all marketing
    objections = [{"purpose": "personalization"}, {"purpose": "marketing", "channel": "all"}]
    code, answer = call(lambdas, "POST", "objections", {"subject": {"rfc": p.rfc}, "objections": objections, **CASE})

    # Then every answer for those purposes, on every channel, is now "no"
    assert code == 200, answer
    assert {"personalization:all", "marketing:all"} <= set(answer["withdrawn"])
    # and the warm container's next sign-up drops the identity data it may no longer keep
    payload = factories.web(p, consent=[{"purpose": "analytics", "granted": True}])
    payload = factories.vouched(payload, "web", lambdas.aws.tokenizer(), email=p.email)  # a logged-in session
    touchpoint = PAYLOAD_MODELS[Channel.WEB].model_validate(payload).to_touchpoint(Channel.WEB)
    outcome = ingest_touchpoints(warm, [touchpoint])
    assert outcome.results[0].status.value == "stored"
    assert {"given_name", "family_name", "rfc"} <= set(outcome.results[0].dropped_fields)
    history = [i for i in factories.opened_items(lambdas.aws, "consent") if i["key"] == "personalization:all"]
    assert any(i["reference"] == answer["request_id"] for i in history)


def test_objection_to_a_contract_purpose_is_refused(lambdas):
    p = person(137)
    lambdas.post("web", factories.web(p))
    body = {"subject": {"email": p.email}, "objections": [{"purpose": "service"}], **CASE}
    code, answer = call(lambdas, "POST", "objections", body)
    assert code == 422 and answer["error"]["details"][0]["code"] == "not_objectable"


def test_status_shows_state_times_and_the_legal_deadline(lambdas):
    p = person(138)
    lambdas.post("sms", factories.sms(p))
    received = {}
    for regulation in ("gdpr", "ccpa", "lfpdppp"):
        code, accepted = erase(lambdas, {"phone": p.phone}, regulation=regulation)
        assert code == 202
        received[regulation] = status(lambdas, accepted["request_id"])
    day = date.fromisoformat(received["gdpr"]["received_at"][:10])
    assert received["gdpr"]["deadline"] == (day + timedelta(days=30)).isoformat()
    assert received["ccpa"]["deadline"] == (day + timedelta(days=45)).isoformat()
    lfpdppp = date.fromisoformat(received["lfpdppp"]["deadline"])
    assert 26 <= (lfpdppp - day).days <= 28 and lfpdppp.weekday() < 5  # 20 business days
    assert all(r["state"] == "received" and datetime.fromisoformat(r["received_at"]) for r in received.values())


def test_unknown_or_malformed_request_ids(lambdas):
    assert call(lambdas, "GET", "requests/dsr_" + "a" * 32)[0] == 404
    code, body = call(lambdas, "GET", "requests/not-an-id")
    assert code == 422 and body["error"]["details"]
