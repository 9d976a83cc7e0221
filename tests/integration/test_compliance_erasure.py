"""Erasure end to end: the API accepts, the worker erases, nothing of the person stays readable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from local_runner.emulator.template import functions, load
from tests import factories
from tests.conftest import find_pii
from tests.integration.compliance_helpers import (
    API,
    call,
    deliver,
    drain,
    erase,
    lean_transaction_backups,
    receive,
    status,
)
from tests.people import Person, person
from touchpoints.ingestion import ingest_touchpoints, trace_details_field
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.model import Channel
from touchpoints.privacy.cipher import DecryptionFailed, SubjectCipher
from touchpoints.wiring import channels


@pytest.fixture(autouse=True)
def _lean_backups(monkeypatch):
    lean_transaction_backups(monkeypatch)


def ingest_everywhere(lambdas: Any, p: Person, per_channel: int = 25, folio_prefix: str = "F") -> int:
    """The same person on every channel, `per_channel` touchpoints each (one batch); returns the events stored."""
    builders = {
        "web": lambda i: factories.web(p, "page_view" if i else "sign_up"),
        "app": lambda i: factories.vouched(
            factories.app(p), "app", lambdas.aws.tokenizer(), email=p.email
        ),  # logged in
        "email": lambda i: factories.email(p),
        "sms": lambda i: factories.sms(p),
        "push": lambda i: factories.push(p),
        "contact-center": lambda i: factories.contact_center(p),
        "store": lambda i: factories.store(p, folio=f"{folio_prefix}-{i:05d}"),
    }
    stored = 0
    if per_channel > 10:
        extra = {"touchpoints": [factories.web(p, "page_view") for _ in range(per_channel)]}
        stored += len(lambdas.post("web", extra)[1]["results"])
    for channel, build in builders.items():
        code, body = lambdas.post(channel, {"touchpoints": [build(i) for i in range(per_channel)]})
        assert code == 200, body
        stored += sum(r["status"] in ("stored", "accepted") for r in body["results"])
    return stored


def subject_items(aws: Any, subject_id: str) -> list[dict[str, Any]]:
    return [i for i in aws.scan("ProfileTable") if i["pk"]["S"] == f"SUBJECT#{subject_id}"]


def ciphertexts(items: list[dict[str, Any]], ciphers: Mapping[str, SubjectCipher]) -> list[tuple[str, bytes]]:
    """(associated-data field, ciphertext) of every encrypted value in these items; the details' field is named
    from the event's sealed metadata, opened with its subject's key in `ciphers` (by subject id)."""
    found = []
    for item in items:
        for name, value in item.get("fields", {}).get("M", {}).items():
            found.append((name, bytes(value["M"]["v"]["B"])))
        entity = item.get("entity", {}).get("S")
        if entity == event_item.ENTITY:
            found.append((event_item.sealed_field(item["sk"]["S"]), bytes(item["sealed"]["B"])))
        elif entity == consent_item.ENTITY:
            found.append((consent_item.sealed_field(item["sk"]["S"]), bytes(item["sealed"]["B"])))
        if "details" in item:
            meta = event_item.metadata(item, ciphers[item["subject_id"]["S"]])
            found.append((trace_details_field(meta["channel"], meta["event_id"]), bytes(item["details"]["B"])))
    return found


def vault_ciphers(aws: Any) -> list[tuple[str, SubjectCipher]]:
    ciphers = []
    for item in aws.scan("KeyVaultTable"):
        subject_id = item["pk"]["S"].removeprefix("SUBJECT#")
        ciphers.append(
            (subject_id, SubjectCipher(subject_id, factories.unwrapped_key(subject_id, item["wrapped_key"]["B"])))
        )
    return ciphers


def test_erasure_leaves_no_item_no_key_and_unreadable_backups(lambdas):
    # Given one person seen on every channel, and someone else
    erased, kept = person(101), person(102)
    stored = ingest_everywhere(lambdas, erased)
    assert stored >= 200
    ingest_everywhere(lambdas, kept, per_channel=3, folio_prefix="G")
    code, before = lambdas.post("sms", factories.sms(erased))
    subject_id = before["results"][0]["profile_id"]
    other_id = lambdas.post("sms", factories.sms(kept))[1]["results"][0]["profile_id"]
    backup = subject_items(lambdas.aws, subject_id)  # what a table backup or the stream holds
    links = [i for i in lambdas.aws.scan("IdentityIndexTable") if i["pk"]["S"] == f"SUBJECT#{subject_id}"]
    kept_before = subject_items(lambdas.aws, other_id)
    keys = dict(vault_ciphers(lambdas.aws))
    secrets = ciphertexts(backup, keys)
    assert len(backup) > stored and len(secrets) > 100
    assert keys[subject_id].decrypt("email", dict(secrets)["email"]) == erased.email.lower()

    # When compliance asks for the erasure by one identifier and the worker runs
    code, accepted = erase(lambdas, {"rfc": erased.rfc})
    assert code == 202, accepted
    assert accepted["state"] == "received" and accepted["subject_id"] == subject_id
    assert drain(lambdas) == 1
    done = status(lambdas, accepted["request_id"])

    # Then the request is complete, with its counts
    assert done["state"] == "completed" and done["completed_at"]
    assert done["counts"]["items_deleted"] == len(backup) + len(links)
    assert done["counts"]["keys_destroyed"] == 1
    assert done["counts"]["tokens_suppressed"] == done["identifiers"] >= 8
    # and no table holds an item of the subject; only suppression markers are left of its identifiers
    tables = lambdas.aws.all_items()
    for logical in ("ProfileTable", "KeyVaultTable", "IdentityIndexTable"):
        assert not [i for i in tables[logical] if subject_id in json.dumps(i, default=str)], logical
    markers = [i for i in tables["IdentityIndexTable"] if i.get("request_id", {}).get("S") == accepted["request_id"]]
    assert len(markers) == done["identifiers"]
    assert all(m["suppressed"]["BOOL"] and "subject_id" not in m for m in markers)
    # and the backed-up suppression list holds the same tokens, naming neither the subject nor the request
    listed = [i for i in tables["ProfileTable"] if i["pk"]["S"].startswith("TOKEN#")]
    assert {i["pk"]["S"] for i in listed} >= {m["pk"]["S"] for m in markers}
    assert all(i["suppressed"]["BOOL"] and not {"subject_id", "request_id"} & set(i) for i in listed)
    # and the key is gone: no key the system still holds opens any ciphertext copied before
    remaining = vault_ciphers(lambdas.aws)
    assert subject_id not in dict(remaining)
    for _, cipher in [*remaining, (subject_id, SubjectCipher(subject_id, b"\0" * 32))]:
        for field, blob in secrets[:40]:
            with pytest.raises(DecryptionFailed):
                cipher.decrypt(field, blob)
    # and the other person is untouched
    assert subject_items(lambdas.aws, other_id) == kept_before
    # and the request and audit tables hold no personal value of anyone
    assert not find_pii(json.dumps([tables["AuditTable"], tables["ComplianceTable"]], default=str))
    actions = [i["action"]["S"] for i in tables["AuditTable"] if i["request_id"]["S"] == accepted["request_id"]]
    assert {"erasure.received", "erasure.frozen", "erasure.key_destroyed", "erasure.completed"} <= set(actions)
    assert all(i["actor"]["S"] for i in tables["AuditTable"])


@pytest.mark.parametrize("channel", ["web", "app", "email", "sms", "push", "contact-center", "store"])
def test_a_suppressed_person_is_not_recreated_by_any_channel(lambdas, channel):
    p = person(110)
    assert lambdas.post("web", factories.web(p))[0] == 200
    lambdas.post("app", factories.app(p), vouch={"email": p.email})  # the app's login links user id and push token
    assert erase(lambdas, {"email": p.email})[0] == 202
    drain(lambdas)
    before = len(lambdas.aws.scan("ProfileTable"))

    code, body = lambdas.post(channel, factories.CHANNEL_PAYLOADS[channel](p))

    if channel in ("web", "app"):  # a public key is not told: accepted, and not stored
        assert code == 200 and body["results"][0]["status"] == "accepted"
    else:
        assert code == 409 and body["error"]["code"] == "subject_erased"
    assert len(lambdas.aws.scan("ProfileTable")) == before


def test_without_suppression_a_new_signup_starts_a_new_profile(lambdas):
    p = person(111)
    lambdas.post("web", factories.web(p))
    old_id = lambdas.aws.subject_of("email", p.email)
    code, accepted = erase(lambdas, {"email": p.email}, regulation="ccpa", suppress=False)
    assert code == 202 and accepted["suppress"] is False
    drain(lambdas)
    assert status(lambdas, accepted["request_id"])["counts"]["tokens_released"] >= 4

    code, _body = lambdas.post("web", factories.web(p))

    assert code == 200
    assert lambdas.aws.subject_of("email", p.email) not in (None, old_id)
    assert not subject_items(lambdas.aws, old_id)


def test_touchpoints_during_an_erasure_are_refused_and_leave_nothing(lambdas, monkeypatch):
    # Given a person whose channel container is warm (it cached the subject and its consents)
    p = person(112)
    lambdas.post("web", factories.web(p))
    warm = channels.ingestion_service()
    lambdas.post("web", factories.web(p, "page_view"))
    subject_id = lambdas.aws.subject_of("email", p.email)
    # and an erasure that crashes once its purge has started
    from touchpoints.adapters.erasure_store import DynamoSubjectEraser

    def crash(self: Any, item_keys: Any) -> None:
        raise RuntimeError("simulated crash")

    original_delete = DynamoSubjectEraser._delete
    monkeypatch.setattr(DynamoSubjectEraser, "_delete", crash)
    code, accepted = erase(lambdas, {"subject_id": subject_id})
    message = receive(lambdas.aws)
    assert deliver(lambdas, message)["batchItemFailures"] == [{"itemIdentifier": message[0]["MessageId"]}]
    halfway = status(lambdas, accepted["request_id"])
    assert halfway["state"] == "in_progress" and halfway["step"] == "purge"
    items = len(subject_items(lambdas.aws, subject_id))

    # When touchpoints arrive, through a warm container and a cold one
    payload = factories.web(p, "purchase")
    touchpoint = factories.CHANNEL_PAYLOADS["web"](p, "page_view")
    from touchpoints.channels import PAYLOAD_MODELS

    refused = ingest_touchpoints(
        warm, [PAYLOAD_MODELS[Channel.WEB].model_validate(touchpoint).to_touchpoint(Channel.WEB)]
    ).refused
    assert refused == (touchpoint["event_id"],)
    code, body = lambdas.post("web", payload)

    # Then both are refused (the web, a public key, is only told `accepted`), and nothing was added to the subject
    assert code == 200 and body["results"][0]["status"] == "accepted"
    assert len(subject_items(lambdas.aws, subject_id)) == items
    # and once the worker resumes, the erasure completes
    monkeypatch.setattr(DynamoSubjectEraser, "_delete", original_delete)
    assert deliver(lambdas, message, receive_count=2) == {"batchItemFailures": []}
    assert status(lambdas, accepted["request_id"])["state"] == "completed"
    assert not subject_items(lambdas.aws, subject_id)


def test_the_same_erasure_submitted_twice_is_one_request(lambdas):
    p = person(113)
    lambdas.post("sms", factories.sms(p))
    first = erase(lambdas, {"phone": p.phone})
    again = erase(lambdas, {"phone": p.phone})
    assert first[0] == again[0] == 202
    assert first[1]["request_id"] == again[1]["request_id"]
    assert drain(lambdas) == 1


def test_an_erasure_for_identifiers_nobody_holds_still_suppresses_them(lambdas):
    p = person(114)
    code, accepted = erase(lambdas, {"email": p.email, "phone": p.phone}, regulation="lfpdppp")
    assert code == 202 and accepted["subject_id"] is None
    drain(lambdas)
    done = status(lambdas, accepted["request_id"])
    assert done["state"] == "completed" and done["counts"]["tokens_suppressed"] == 2
    assert lambdas.post("sms", factories.sms(p))[0] == 409


def test_identifiers_of_two_people_are_refused(lambdas):
    a, b = person(115), person(116)
    lambdas.post("sms", factories.sms(a))
    lambdas.post("email", factories.email(b))
    code, body = erase(lambdas, {"phone": a.phone, "email": b.email})
    assert code == 409 and body["error"]["code"] == "ambiguous_subject"


COMPLIANCE_ROUTES = [r for spec in functions(load()) if spec.logical_id == API for r in spec.routes]
_BODY = {"subject": {"subject_id": "sub_" + "0" * 32}, "regulation": "gdpr", "case_reference": "CASE-1"}


def test_every_compliance_route_is_iam_only_in_the_template():
    assert {(r.method, r.path.removeprefix("/v1/compliance/")) for r in COMPLIANCE_ROUTES} == {
        ("POST", "erasures"),
        ("GET", "requests/{request_id}"),
        ("GET", "requests"),
        ("GET", "requests/{request_id}/certificate"),
        ("POST", "exports"),
        ("POST", "rectifications"),
        ("POST", "objections"),
        ("POST", "suppression-lifts"),
        ("GET", "identity-log"),
    }
    assert all(route.auth == "iam" for route in COMPLIANCE_ROUTES)


@pytest.mark.parametrize("route", COMPLIANCE_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_channel_credentials_get_403_on_every_compliance_route(lambdas, route):
    path = route.path.removeprefix("/v1/compliance/").replace("{request_id}", "dsr_" + "0" * 32)
    body = None if route.method == "GET" else _BODY
    callers = [{"user_arn": None, "api_key_id": key.key_id} for key in lambdas.aws.provisioned.api_keys.values()]
    callers += [
        {"user_arn": None},
        {"user_arn": "arn:aws:iam::123456789012:user/local-developer"},
        {"user_arn": "arn:aws:sts::123456789012:assumed-role/ClassifierRole/x"},
        {"user_arn": "arn:aws:sts::999999999999:assumed-role/ComplianceOperatorRole/x"},
    ]
    for caller in callers:
        code, answer = call(lambdas, route.method, path, body, **caller)
        assert code == 403, caller
        assert answer["error"]["code"] == "forbidden" and answer["error"]["retryable"] is False
    assert not lambdas.aws.scan("AuditTable")


def lift(lambdas: Any, subject: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return call(
        lambdas,
        "POST",
        "suppression-lifts",
        {"subject": subject, "regulation": "lfpdppp", "case_reference": "CASE-2026-0107"},
    )


def test_a_lifted_suppression_lets_the_person_come_back_as_a_new_profile(lambdas):
    # Given a person erased with suppression, whose sign-up is now refused
    p = person(112)
    lambdas.post("web", factories.web(p))
    old_id = lambdas.aws.subject_of("email", p.email)
    assert erase(lambdas, {"email": p.email})[0] == 202
    drain(lambdas)
    assert lambdas.post("store", factories.store(p))[0] == 409
    # and lifting only some of the identifiers the sign-up carries is not enough (the web is not told)
    assert lift(lambdas, {"email": p.email})[0] == 200
    assert lambdas.post("web", factories.web(p))[0] == 200
    assert lambdas.aws.subject_of("email", p.email) is None

    # When compliance lifts the suppression of what the sign-up carries (and names one never suppressed)
    carried = {"email": p.email, "phone": p.phone, "rfc": p.rfc, "anonymous_id": f"anon-{p.app_user_id}"}
    code, lifted = lift(lambdas, {**carried, "loyalty_id": "LOY-NEVER-SEEN-1"})

    # Then the markers are gone, the request is completed and audited without personal data
    assert code == 200, lifted
    assert (lifted["kind"], lifted["state"]) == ("suppression_lift", "completed")
    assert lifted["counts"] == {"suppressions_lifted": 3, "not_suppressed": 2}  # email was lifted before
    assert status(lambdas, lifted["request_id"])["state"] == "completed"
    audit = [i for i in lambdas.aws.scan("AuditTable") if i["request_id"]["S"] == lifted["request_id"]]
    assert {i["action"]["S"] for i in audit} == {"suppression_lift.received", "suppression_lift.completed"}
    assert not find_pii(json.dumps(audit))
    # and the person's next sign-up starts a new profile, unrelated to the erased one
    code, _body = lambdas.post("web", factories.web(p))
    assert code == 200
    assert lambdas.aws.subject_of("email", p.email) not in (None, old_id)


def test_lifting_never_releases_an_identifier_someone_holds(lambdas):
    p = person(113)
    lambdas.post("web", factories.web(p))
    holder = lambdas.aws.subject_of("email", p.email)

    code, lifted = lift(lambdas, {"email": p.email})

    assert code == 200 and lifted["counts"] == {"suppressions_lifted": 0, "not_suppressed": 1}
    code, _body = lambdas.post("web", factories.web(p))
    assert code == 200 and lambdas.aws.subject_of("email", p.email) == holder


def test_a_suppression_lift_must_name_identifiers(lambdas):
    p = person(114)
    lambdas.post("web", factories.web(p))
    subject_id = lambdas.aws.subject_of("email", p.email)

    code, body = lift(lambdas, {"subject_id": subject_id})

    assert code == 422 and body["error"]["code"] == "identifiers_required"
