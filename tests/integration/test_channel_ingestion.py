"""Given valid touchpoints on every channel, the tables hold tokens and ciphertexts only,
the same person is one profile across channels, and the subject key decrypts the originals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import factories
from tests.conftest import find_pii
from tests.people import Person, person
from touchpoints.adapters import keys
from touchpoints.ingestion import trace_details_field
from touchpoints.items import event as event_item
from touchpoints.privacy.cipher import SubjectCipher


def _subject_cipher(aws: Any, subject_id: str) -> SubjectCipher:
    vault = aws.dynamodb.get_item(TableName=aws.table("KeyVaultTable"), Key=keys.vault_key(subject_id))["Item"]
    return SubjectCipher(subject_id, factories.unwrapped_key(subject_id, vault["wrapped_key"]["B"]))


def _profile(aws: Any, subject_id: str) -> dict[str, Any]:
    return aws.dynamodb.get_item(TableName=aws.table("ProfileTable"), Key=keys.profile_key(subject_id))["Item"]


def _text_of(items: list[dict[str, Any]]) -> str:
    """Every attribute of every item, binary values included, as one searchable text."""

    def render(value: Any) -> str:
        if isinstance(value, bytes):
            return value.decode("latin-1")
        if isinstance(value, dict):
            return " ".join(f"{k} {render(v)}" for k, v in value.items())
        if isinstance(value, list):
            return " ".join(render(v) for v in value)
        return str(value)

    return render(items)


def _journey(p: Person) -> list[tuple[str, dict[str, Any], dict[str, str] | None]]:
    """Signs up on the web, then logs in on the app and on the web (their back ends vouch for the email)."""
    login = {"email": p.email}
    return [
        ("web", factories.web(p, "sign_up"), None),
        ("app", factories.app(p, "app_open"), login),
        ("email", factories.email(p, "click"), None),
        ("sms", factories.sms(p, "click"), None),
        ("push", factories.push(p, "open"), None),
        ("contact-center", factories.contact_center(p), None),
        ("store", factories.store(p), None),
        ("web", factories.web(p, "purchase"), login),
    ]


def _identifiers(p: Person) -> dict[str, str]:
    return {
        "email": p.email,
        "phone": p.phone,
        "rfc": p.rfc,
        "app_user_id": p.app_user_id,
        "push_token": p.push_token,
        "whatsapp": p.phone,
        "messenger_id": p.messenger_id,
        "anonymous_id": f"anon-{p.app_user_id}",
    }


def test_every_channel_stores_no_plaintext_and_one_profile_per_person(lambdas, local_aws):
    people = [person(10), person(11)]
    profile_ids: dict[str, set[str | None]] = {}
    for p in people:
        for channel, payload, vouch in _journey(p):
            status, body = lambdas.post(channel, payload, vouch=vouch)
            assert status == 200, body
            assert body["results"][0]["status"] == ("accepted" if channel in ("web", "app") else "stored")
            profile_ids[p.email] = {local_aws.subject_of(kind, v) for kind, v in _identifiers(p).items()}

    # Then each person is exactly one profile, whatever channel they came through
    assert all(len(ids) == 1 and None not in ids for ids in profile_ids.values())
    assert len({next(iter(ids)) for ids in profile_ids.values()}) == len(people)

    # And no table holds any personal value in plaintext, not even inside binary attributes
    everything = local_aws.all_items()
    assert sum(len(items) for items in everything.values()) > 0
    assert find_pii(_text_of([i for items in everything.values() for i in items])) == set()
    for p in people:
        for value in (p.phone_e164.encode(), p.email.lower().encode(), p.rfc.encode()):
            assert value not in _text_of(everything["ProfileTable"]).encode("latin-1")


def test_subject_key_decrypts_the_originals_and_trace_details(lambdas, local_aws):
    p = person(12)
    lambdas.post("web", factories.web(p, "sign_up"))
    subject_id = local_aws.subject_of("email", p.email)
    lambdas.post("app", factories.app(p, "push_registration"), vouch={"email": p.email})
    purchase = factories.web(p, "purchase")
    lambdas.post("web", purchase, vouch={"email": p.email})

    cipher = _subject_cipher(local_aws, subject_id)
    fields = _profile(local_aws, subject_id)["fields"]["M"]
    decrypted = {name: cipher.decrypt(name, value["M"]["v"]["B"]) for name, value in fields.items()}
    assert decrypted == {
        "given_name": p.given_name,
        "family_name": p.family_name,
        "email": p.email.lower(),
        "phone": p.phone_e164,
        "birth_date": p.birth_date.isoformat(),
        "rfc": p.rfc,
        "postal_address": p.address_canonical(),
        "push_token": p.push_token,
    }

    event = local_aws.dynamodb.get_item(
        TableName=local_aws.table("ProfileTable"),
        Key={
            "pk": {"S": keys.subject_pk(subject_id)},
            "sk": {"S": event_item.sort_key(cipher, "web", purchase["event_id"])},
        },
    )["Item"]
    details = json.loads(cipher.decrypt(trace_details_field("web", purchase["event_id"]), event["details"]["B"]))
    assert details["order_id"] == "ORD-1001" and details["total"] == 1299.5
    assert event_item.metadata(event, cipher)["trace"] == "transactional"
    assert int(event["expires_at"]["N"]) > 0


def test_ciphertexts_are_bound_to_their_subject_and_field(lambdas, local_aws):
    a, b = person(13), person(14)
    lambdas.post("web", factories.web(a))
    lambdas.post("web", factories.web(b))
    id_a, id_b = local_aws.subject_of("email", a.email), local_aws.subject_of("email", b.email)
    fields_a = _profile(local_aws, id_a)["fields"]["M"]
    cipher_a, cipher_b = _subject_cipher(local_aws, id_a), _subject_cipher(local_aws, id_b)
    email_ct = fields_a["email"]["M"]["v"]["B"]

    from touchpoints.privacy.cipher import DecryptionFailed

    with pytest.raises(DecryptionFailed):
        cipher_a.decrypt("phone", email_ct)  # swapped field
    with pytest.raises(DecryptionFailed):
        cipher_b.decrypt("email", email_ct)  # another person's key
    with pytest.raises(DecryptionFailed):
        SubjectCipher(id_b, _raw_key(local_aws, id_a)).decrypt("email", email_ct)  # right key, wrong subject


def _raw_key(aws: Any, subject_id: str) -> bytes:
    vault = aws.dynamodb.get_item(TableName=aws.table("KeyVaultTable"), Key=keys.vault_key(subject_id))["Item"]
    return factories.unwrapped_key(subject_id, vault["wrapped_key"]["B"])


def test_tokens_match_for_the_same_person_across_channels(lambdas, local_aws):
    p = person(15)
    lambdas.post("web", factories.web(p))
    web_id = local_aws.subject_of("email", p.email)
    sms_id = lambdas.post("sms", factories.sms(p, "inbound"))[1]["results"][0]["profile_id"]
    email_id = lambdas.post("email", factories.email(p, "open"))[1]["results"][0]["profile_id"]
    assert web_id == sms_id == email_id

    tokens = factories.linked_tokens(local_aws.scan("IdentityIndexTable"), web_id)
    token_items = [i for i in local_aws.scan("IdentityIndexTable") if i["pk"]["S"].startswith("TOKEN#")]
    assert {i["pk"]["S"].removeprefix("TOKEN#") for i in token_items} == tokens
    assert {i["subject_id"]["S"] for i in token_items} == {web_id}
    kinds = {t.split(".")[1] for t in tokens}
    assert {"email", "phone", "rfc", "anonymous_id"} <= kinds


def test_an_anonymous_cash_buyer_becomes_known_by_registering_the_ticket(lambdas, local_aws):
    p = person(16)
    cash = factories.store(None, folio="F-900001", payment_method="cash")
    _, body = lambdas.post("store", cash)
    anonymous_id = body["results"][0]["profile_id"]
    assert body["results"][0]["new_profile"] is True

    registration = factories.web(
        p, "ticket_registration", ticket={"store_id": "TDA-042", "folio": "F-900001"}, anonymous_id=None
    )
    _, body = lambdas.post("web", registration)
    assert body["results"][0]["status"] == "accepted"
    assert local_aws.subject_of("email", p.email) == anonymous_id
    profile = _profile(local_aws, anonymous_id)
    assert {"email", "given_name"} <= set(profile["fields"]["M"])
    assert profile["trace_transactional"]["N"] == "2"


def test_a_retried_touchpoint_is_stored_once(lambdas, local_aws):
    p = person(17)
    payload = factories.web(p, "page_view", customer={"email": p.email})
    first = lambdas.post("web", payload)[1]["results"][0]
    second = lambdas.post("web", payload)[1]["results"][0]
    assert first == second  # a public channel is not told it was a retry
    events = [i for i in local_aws.scan("ProfileTable") if i["sk"]["S"].startswith("EVENT#")]
    assert len(events) == 1
    assert _profile(local_aws, local_aws.subject_of("email", p.email))["trace_visit"]["N"] == "1"
    again = factories.sms(p, "click")
    private = [lambdas.post("sms", again)[1]["results"][0] for _ in range(2)]
    assert [r["status"] for r in private] == ["stored", "duplicate"]


def test_a_batch_stores_each_touchpoint(lambdas, local_aws):
    people = [person(n) for n in range(20, 25)]
    batch = {"touchpoints": [factories.web(p) for p in people]}
    status, body = lambdas.post("web", batch)
    assert status == 200
    assert [r["status"] for r in body["results"]] == ["accepted"] * 5
    assert len({local_aws.subject_of("email", p.email) for p in people} - {None}) == 5


def test_a_late_older_touchpoint_is_stored_but_never_moves_the_last_trace_back(lambdas, local_aws):
    p = person(18)
    recent = factories.web(p, "page_view", occurred_at="2026-11-20T12:00:00+00:00")
    late = factories.sms(p, "click", occurred_at="2026-11-19T08:00:00-06:00")
    lambdas.post("web", recent)
    subject_id = local_aws.subject_of("email", p.email)
    status, body = lambdas.post("sms", late)
    assert status == 200 and body["results"][0]["status"] == "stored"
    profile = _profile(local_aws, subject_id)
    assert profile["last_trace_at"]["S"] == "2026-11-20T12:00:00+00:00"
    assert profile["trace_visit"]["N"] == "2"
    newer = factories.email(p, "open", occurred_at="2026-11-20T13:30:00-06:00")
    lambdas.post("email", newer)
    assert _profile(local_aws, subject_id)["last_trace_at"]["S"] == "2026-11-20T19:30:00+00:00"
