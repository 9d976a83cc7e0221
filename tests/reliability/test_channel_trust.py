"""Issue 17, finding 2: channel keys that ship in browsers and apps can neither probe nor hijack.

Each test here failed on the code the review read (answers carried `profile_id`, `new_profile` and
`409 subject_erased` to every channel, and a web touchpoint attached any identifier to the profile its
strongest identifier found) and passes after (policies/trust.yaml).
"""

from __future__ import annotations

from typing import Any

import boto3

from tests import factories
from tests.integration.compliance_helpers import call, drain, erase
from tests.integration.test_compliance_rights import field_value
from tests.people import person
from touchpoints.privacy.tokenizer import Tokenizer

CASE = {"regulation": "gdpr", "case_reference": "CASE-2026-1702"}


def profile_item(lambdas: Any, subject_id: str) -> dict[str, Any]:
    return dict(
        boto3.client("dynamodb").get_item(
            TableName=lambdas.aws.table("ProfileTable"),
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            ConsistentRead=True,
        )["Item"]
    )


def attacker_touchpoint(victim_email: str, attacker: Any) -> dict[str, Any]:
    """The review's hijack: the victim's email, the attacker's own phone, name and consents, on the web key."""
    return factories.web(
        attacker,
        "sign_up",
        customer={
            "email": victim_email,
            "phone": attacker.phone,
            "given_name": attacker.given_name,
            "family_name": attacker.family_name,
        },
        anonymous_id=None,
        consent=[
            {"purpose": "personalization", "granted": True},
            {"purpose": "marketing", "channel": "all", "granted": True},
        ],
    )


def test_a_public_key_cannot_hijack_a_known_person_with_its_own_phone(lambdas):
    # Given a victim known through a private channel (a store purchase: RFC, email, name; no marketing consent)
    victim, attacker = person(1700), person(1701)
    _, known = lambdas.post("store", factories.store(victim))
    victim_id = known["results"][0]["profile_id"]
    before = profile_item(lambdas, victim_id)

    # When the holder of the public web key sends the victim's email with the attacker's phone, name and consents
    status, body = lambdas.post("web", attacker_touchpoint(victim.email, attacker))

    # Then the answer says nothing about whom it found
    assert status == 200 and set(body["results"][0]) == {"event_id", "status", "dropped_fields"}
    # and the victim's profile gets neither the phone's token, nor the attacker's fields, nor their consents
    assert lambdas.aws.subject_of("phone", attacker.phone) != victim_id
    links = factories.linked_tokens(lambdas.aws.scan("IdentityIndexTable"), victim_id)
    assert not any(token.startswith("t1.phone.") for token in links)
    after = profile_item(lambdas, victim_id)
    assert after["fields"] == before["fields"] and after["consents"] == before["consents"]
    assert field_value(lambdas, victim_id, "given_name") == victim.given_name
    # and the attacker's phone leads to a profile of its own, which holds no copy of the victim's email
    elsewhere = lambdas.aws.subject_of("phone", attacker.phone)
    assert elsewhere is not None and "email" not in profile_item(lambdas, elsewhere)["fields"]["M"]

    # When a data-subject request names the attacker's phone
    code, document = call(
        lambdas, "POST", "exports", {"subject": {"phone": attacker.phone}, **CASE}, personal_answer=True
    )

    # Then it does not find the victim: nothing of theirs is handed over
    assert code == 200, document
    assert document["subject"]["subject_id"] != victim_id
    exported = {name: entry["value"] for name, entry in document["personal_data"].items()}
    assert victim.email.lower() not in exported.values() and victim.given_name not in exported.values()


def test_a_public_key_cannot_overwrite_a_known_persons_values_or_consents_with_their_own_identifiers(lambdas):
    # Given a victim known through a private channel, without marketing consent
    victim = person(1703)
    victim_id = lambdas.post("store", factories.store(victim))[1]["results"][0]["profile_id"]
    before = profile_item(lambdas, victim_id)

    # When the web key sends only the victim's email, with another name and a marketing "yes"
    lambdas.post(
        "web",
        factories.web(
            victim,
            "profile_update",
            customer={"email": victim.email, "given_name": "Mallory"},
            anonymous_id=None,
            consent=[{"purpose": "marketing", "channel": "all", "granted": True}],
        ),
    )

    # Then only the visit is kept on the victim: no field or consent changed
    after = profile_item(lambdas, victim_id)
    assert after["fields"] == before["fields"] and after["consents"] == before["consents"]
    assert int(after["trace_visit"]["N"]) == int(before["trace_visit"]["N"]) + 1


def test_a_login_the_back_end_vouches_for_links_and_updates_the_person(lambdas):
    # Given a person known through a private channel
    p = person(1704)
    subject_id = lambdas.post("store", factories.store(p))[1]["results"][0]["profile_id"]

    # When the web's back end vouches (signed proof) for the email of a logged-in session adding a phone
    body = factories.web(p, "profile_update", customer={"email": p.email, "phone": p.phone, "given_name": "Ximena"})
    status, answer = lambdas.post("web", body, vouch={"email": p.email})

    # Then the phone and the session's anonymous id are linked to the person, and the new values are kept as verified
    assert status == 200 and answer["results"][0]["status"] == "accepted"
    assert lambdas.aws.subject_of("phone", p.phone) == subject_id
    assert lambdas.aws.subject_of("anonymous_id", body["anonymous_id"]) == subject_id
    assert field_value(lambdas, subject_id, "given_name") == "Ximena"
    assert "given_name" in profile_item(lambdas, subject_id)["verified_fields"]["SS"]


def test_a_forged_or_misplaced_vouch_is_refused(lambdas):
    p = person(1705)
    body = factories.web(p, "login", customer={"email": p.email})
    wrong_key = factories.vouched(body, "web", Tokenizer(b"not the stack's secret, 32 bytes+"), email=p.email)
    other_channel = factories.vouched(body, "app", lambdas.aws.tokenizer(), email=p.email)
    not_carried = factories.vouched(body, "web", lambdas.aws.tokenizer(), phone=p.phone)
    bare = {**body, "verified": [{"kind": "email"}]}
    for forged in (wrong_key, other_channel, not_carried, bare):
        status, answer = lambdas.post("web", forged)
        assert status == 422, answer
        assert {d["code"] for d in answer["error"]["details"]} <= {"invalid_proof", "not_in_touchpoint"}
    store_vouch = {**factories.store(p), "verified": [{"kind": "email"}]}
    status, answer = lambdas.post("store", store_vouch)
    assert status == 422 and answer["error"]["details"][0]["code"] == "vouch_not_allowed"
    assert lambdas.aws.subject_of("email", p.email) is None


def test_a_public_key_cannot_tell_a_customer_from_a_stranger_or_a_retry(lambdas):
    known, stranger = person(1706), person(1707)
    lambdas.post("store", factories.store(known))

    def answer(p: Any) -> dict[str, Any]:
        body = factories.web(p, "page_view", customer={"email": p.email}, anonymous_id=None, event_id="same-id-1")
        return lambdas.post("web", body)[1]

    first_known, first_stranger = answer(known), answer(stranger)
    assert first_known == first_stranger == answer(known) == answer(stranger)


def test_a_public_key_is_not_told_a_person_was_erased_and_their_touchpoint_is_not_stored(lambdas):
    # Given a person erased with suppression
    p = person(1708)
    subject_id = lambdas.post("store", factories.store(p))[1]["results"][0]["profile_id"]
    code, request = erase(lambdas, {"email": p.email})
    assert code == 202, request
    drain(lambdas)
    stranger = person(1709)

    # When the web key sends a touchpoint naming them, and one naming a stranger, in one batch
    erased = factories.web(p, "page_view", customer={"email": p.email}, anonymous_id=None)
    fresh = factories.web(stranger, "page_view", customer={"email": stranger.email}, anonymous_id=None)
    status, body = lambdas.post("web", {"touchpoints": [erased, fresh]})

    # Then both are answered alike, and the erased person's is not stored anywhere
    assert status == 200, body
    assert [set(r) for r in body["results"]] == [{"event_id", "status", "dropped_fields"}] * 2
    assert body["results"][0]["status"] == body["results"][1]["status"] == "accepted"
    assert lambdas.aws.subject_of_event("web", erased["event_id"]) is None
    assert subject_id != lambdas.aws.subject_of("email", stranger.email)
    # while a private channel is still told (409, and which touchpoints were not stored)
    status, body = lambdas.post("store", factories.store(p))
    assert status == 409 and body["error"]["code"] == "subject_erased"


def test_a_web_sign_up_with_an_empty_consent_block_keeps_no_token(lambdas):
    # Given a sign-up whose consent block is empty (issue 12, item 6)
    p = person(1710)
    body = factories.web(p, "sign_up", consent=[])
    status, answer = lambdas.post("web", body)

    # Then its personal values are dropped, its trace is kept minimized, and no identifier's token is stored or linked
    assert status == 200 and "email" in answer["results"][0]["dropped_fields"]
    assert lambdas.aws.scan("IdentityIndexTable") == []
    [event] = _opened_events(lambdas, body["event_id"])
    assert event["minimized"] is True
    # and a retry is still one touchpoint
    lambdas.post("web", body)
    assert len(_opened_events(lambdas, body["event_id"])) == 1


def _opened_events(lambdas, event_id: str) -> list[dict]:
    events = factories.opened_items(lambdas.aws, "event")
    return [e for e in events if (e["channel"], e["event_id"]) == ("web", event_id)]
