"""Given the consent policy, what a customer did not allow is not stored, or is stored minimized."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.people import person
from touchpoints.adapters import keys


def _items(aws: Any, subject_id: str) -> dict[str, dict[str, Any]]:
    answer = aws.dynamodb.query(
        TableName=aws.table("ProfileTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.subject_pk(subject_id)}},
    )
    return {item["sk"]["S"]: item for item in answer["Items"]}


def test_without_personalization_consent_a_visit_keeps_no_identity_or_contact(lambdas, local_aws):
    p = person(60)
    payload = factories.web(p, "newsletter_signup", consent=[{"purpose": "analytics", "granted": True}])
    status, body = lambdas.post("web", payload)
    assert status == 200
    result = body["results"][0]
    assert set(result["dropped_fields"]) == {
        "given_name",
        "family_name",
        "email",
        "phone",
        "birth_date",
        "rfc",
        "postal_address",
    }
    subject_id = local_aws.subject_of("anonymous_id", payload["anonymous_id"])
    profile = _items(local_aws, subject_id)["PROFILE"]
    assert profile["fields"]["M"] == {}
    # analytics is a basis to link the visitor's anonymous id, not their email, phone or RFC (consent.yaml `linking`)
    tokens = factories.linked_tokens(local_aws.scan("IdentityIndexTable"), subject_id)
    assert {t.split(".")[1] for t in tokens} == {"anonymous_id"}


def test_without_analytics_consent_a_visit_is_kept_minimized(lambdas, local_aws):
    p = person(61)
    payload = factories.web(p, "page_view", consent=[{"purpose": "personalization", "granted": True}])
    payload["occurred_at"] = "2026-11-20T17:45:12+00:00"
    lambdas.post("web", payload)
    subject_id = local_aws.subject_of("email", p.email)
    items = _items(local_aws, subject_id)
    (event,) = factories.opened_items(local_aws, "event", subject_id)
    assert event["event_id"] == payload["event_id"]
    assert event["minimized"] is True
    assert "details" not in event
    assert event["occurred_at"] == "2026-11-20T00:00:00+00:00"
    assert items["PROFILE"]["trace_visit"]["N"] == "1"


def test_a_purchase_keeps_what_the_contract_needs_without_a_consent_yes(lambdas, local_aws):
    p = person(62)
    payload = factories.store(p, consent=[])
    _, body = lambdas.post("store", payload)
    result = body["results"][0]
    assert result["dropped_fields"] == []
    profile = _items(local_aws, result["profile_id"])["PROFILE"]
    assert set(profile["fields"]["M"]) == {"rfc", "email", "given_name"}
    assert profile["trace_transactional"]["N"] == "1"


def test_consent_is_recorded_with_time_source_and_policy_version(lambdas, local_aws):
    p = person(63)
    lambdas.post("web", factories.web(p))
    subject_id = local_aws.subject_of("email", p.email)
    withdrawal = {
        "event_id": "pref-centre-1",
        "occurred_at": factories.occurred(30),
        "subject": {"email": p.email},
        "consent": [{"purpose": "marketing", "channel": "email", "granted": False}],
    }
    status, body = lambdas.post("web", withdrawal, resource="consents", vouch={"email": p.email})
    assert status == 200, body
    assert body["results"][0]["status"] == "accepted"

    items = _items(local_aws, subject_id)
    consent = items["PROFILE"]["consents"]["M"]["marketing:email"]["M"]
    assert consent["granted"]["BOOL"] is False
    assert consent["source"]["S"] == "web"
    assert consent["policy_version"]["S"] == "2026-11-30"
    assert items["PROFILE"]["consents"]["M"]["marketing:all"]["M"]["granted"]["BOOL"] is True
    history = [i for i in factories.opened_items(local_aws, "consent", subject_id) if i["key"] == "marketing:email"]
    assert len(history) == 1 and history[0]["reference"] == "pref-centre-1"
    assert int(items["PROFILE"]["consent_version"]["N"]) == 2


def test_an_older_yes_never_overrides_a_newer_no(lambdas, local_aws):
    p = person(64)
    _, body = lambdas.post("sms", factories.sms(p, "opt_out", occurred_at=factories.occurred(50)))
    subject_id = body["results"][0]["profile_id"]
    assert local_aws.subject_of("phone", p.phone) == subject_id  # an opt-out keeps finding its person
    stale_yes = factories.app(
        p,
        "app_open",
        customer={"phone": p.phone},
        consent=[{"purpose": "marketing", "channel": "sms", "granted": True, "collected_at": factories.occurred(10)}],
    )
    _, body = lambdas.post("app", stale_yes, vouch={"phone": p.phone})
    assert body["results"][0]["status"] == "accepted"
    consents = _items(local_aws, subject_id)["PROFILE"]["consents"]["M"]
    assert consents["marketing:sms"]["M"]["granted"]["BOOL"] is False


def test_unsubscribe_and_opt_out_events_withdraw_marketing_on_their_channel(lambdas, local_aws):
    p = person(65)
    lambdas.post("web", factories.web(p))
    subject_id = local_aws.subject_of("email", p.email)
    # the app's login vouches for the email, which links the push token to the person
    lambdas.post("app", factories.app(p, "push_registration"), vouch={"email": p.email})
    assert local_aws.subject_of("push_token", p.push_token) == subject_id
    lambdas.post("email", factories.email(p, "unsubscribe", occurred_at=factories.occurred(60)))
    lambdas.post("push", factories.push(p, "opt_out", occurred_at=factories.occurred(61)))
    consents = _items(local_aws, subject_id)["PROFILE"]["consents"]["M"]
    assert consents["marketing:email"]["M"]["granted"]["BOOL"] is False
    assert consents["marketing:push"]["M"]["granted"]["BOOL"] is False
    assert consents["marketing:all"]["M"]["granted"]["BOOL"] is True


def test_a_warm_container_sees_consent_changed_elsewhere(lambdas, local_aws):
    """A change made by another container bumps consent_version; this container's cached snapshot fails the
    write condition, reloads, and applies the current answer."""
    p = person(66)
    payload = factories.web(p, "page_view", consent=[{"purpose": "personalization", "granted": True}])
    lambdas.post("web", payload)
    subject_id = local_aws.subject_of("email", p.email)
    local_aws.dynamodb.update_item(
        TableName=local_aws.table("ProfileTable"),
        Key=keys.profile_key(subject_id),
        UpdateExpression="SET consents.#k = :no ADD consent_version :one",
        ExpressionAttributeNames={"#k": "personalization:all"},
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":no": {
                "M": {
                    "granted": {"BOOL": False},
                    "at": {"S": factories.occurred(100)},
                    "source": {"S": "compliance"},
                    "policy_version": {"S": "2026-11-01"},
                }
            },
        },
    )
    before = _items(local_aws, subject_id)["PROFILE"]["fields"]["M"]["given_name"]
    followup = factories.web(p, "page_view", consent=[], occurred_at=factories.occurred(101))
    status, _ = lambdas.post("web", followup, vouch={"email": p.email})
    assert status == 200
    profile = _items(local_aws, subject_id)["PROFILE"]
    assert profile["fields"]["M"]["given_name"] == before  # not rewritten: the "no" made elsewhere was seen
    assert profile["trace_visit"]["N"] == "2"
