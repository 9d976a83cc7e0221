"""Issue 17, a security review's findings: each test failed on the code the review read and passes after.

Finding 3 (suppression that holds) and finding 5 (the smaller ones) are here; bounded profiles
(finding 1), channel trust (finding 2) and backups (finding 4) have their own modules.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests import factories
from tests.integration.compliance_helpers import call, drain, erase, lean_transaction_backups, status
from tests.people import person
from tests.reliability import aws_hooks
from tests.reliability.test_iam_policies import granted, used
from tests.unit.test_ingestion_service import InMemoryStore, ingest, service, touchpoint
from tests.unit.test_privacy import CountingWrapper
from touchpoints.ingestion import ProfileWrite
from touchpoints.privacy.keyring import SubjectKeyring
from touchpoints.trust import load_trust_policy
from touchpoints.wiring import container

CASE = {"regulation": "gdpr", "case_reference": "CASE-2026-1700"}


@pytest.fixture(autouse=True)
def _lean_backups(monkeypatch):
    lean_transaction_backups(monkeypatch)


def profile_table(lambdas: Any) -> list[dict[str, Any]]:
    return lambdas.aws.scan("ProfileTable")


def index_table(lambdas: Any) -> list[dict[str, Any]]:
    return lambdas.aws.scan("IdentityIndexTable")


def token_owner(lambdas: Any, token: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        boto3.client("dynamodb")
        .get_item(
            TableName=lambdas.aws.table("IdentityIndexTable"),
            Key={"pk": {"S": f"TOKEN#{token}"}, "sk": {"S": "TOKEN"}},
        )
        .get("Item")
    )
    return item


def tokens_of(lambdas: Any, subject_id: str) -> set[str]:
    return {
        i["pk"]["S"].removeprefix("TOKEN#")
        for i in index_table(lambdas)
        if i.get("entity", {}).get("S") == "token" and i.get("subject_id", {}).get("S") == subject_id
    }


# Finding 1: no item grows with a person's history


def test_anonymous_ids_past_the_policys_limit_do_not_grow_the_profile(lambdas):
    # Given a person, and a logged-in session (vouched: without it a public key links nothing to them) that
    # sends their email with fresh anonymous ids
    p = person(1730)
    assert lambdas.post("store", factories.store(p, folio="B-1"))[0] == 200
    (subject_id,) = subject_ids(lambdas)
    limit = load_trust_policy().link_limit("anonymous_id")
    sent = limit + 10
    for start in range(0, sent, 25):
        batch = [
            factories.vouched(
                factories.web(p, "page_view", anonymous_id=f"anon-{i:05d}"),
                "web",
                lambdas.aws.tokenizer(),
                email=p.email,
            )
            for i in range(start, min(sent, start + 25))
        ]
        code, body = lambdas.post("web", {"touchpoints": batch})
        assert code == 200, body

    # Then every touchpoint was stored, the profile item holds no token, and only `limit` anonymous ids find the person
    items = [i for i in profile_table(lambdas) if i["pk"]["S"] == f"SUBJECT#{subject_id}"]
    (profile,) = [i for i in items if i["sk"]["S"] == "PROFILE"]
    assert len([i for i in items if i["entity"]["S"] == "event"]) == sent + 1
    assert "t1." not in json.dumps(profile, default=str)
    anonymous = {t for t in tokens_of(lambdas, subject_id) if t.startswith("t1.anonymous_id.")}
    assert len(anonymous) == limit
    # and a later touchpoint through an anonymous id that did not fit starts no claim on them
    code, body = lambdas.post("store", factories.store(p, folio="B-2"))
    assert code == 200 and body["results"][0]["profile_id"] == subject_id


def test_a_person_with_thousands_of_identifiers_stays_writable_and_erasable(lambdas):
    # Given a person holding thousands of identifiers (a long history of tickets, as the policy allows)
    p = person(1732)
    assert lambdas.post("store", factories.store(p, folio="C-1"))[0] == 200
    (subject_id,) = subject_ids(lambdas)
    held = seed_links(lambdas, subject_id, "ticket", 2000)
    profile_key = {"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}}
    profile = boto3.client("dynamodb").get_item(TableName=lambdas.aws.table("ProfileTable"), Key=profile_key)["Item"]
    assert len(json.dumps(profile, default=str)) < 8_000

    # When they come back, and then ask to be erased
    assert lambdas.post("store", factories.store(p, folio="C-2"))[0] == 200
    code, accepted = erase(lambdas, {"rfc": p.rfc})
    assert code == 202
    drain(lambdas)

    # Then the erasure completes and every identifier that found them is a suppression marker
    done = status(lambdas, accepted["request_id"])
    assert done["state"] == "completed" and done["counts"]["tokens_suppressed"] >= len(held) + 3
    left = index_table(lambdas)
    assert not [i for i in [*profile_table(lambdas), *left] if subject_id in json.dumps(i)]
    markers = {i["pk"]["S"].removeprefix("TOKEN#") for i in left if i.get("suppressed", {}).get("BOOL")}
    assert set(held) <= markers


def seed_links(lambdas: Any, subject_id: str, kind: str, count: int) -> list[str]:
    """Tokens of `kind` held by the subject, written as ingestion writes them (lookup item, link, count)."""
    from touchpoints.adapters.profile_store import token_claim

    dynamodb, table = boto3.client("dynamodb"), lambdas.aws.table("ProfileTable")
    index = lambdas.aws.table("IdentityIndexTable")
    tokens = [f"t1.{kind}.seeded{n:06d}" for n in range(count)]
    puts = [
        {"PutRequest": {"Item": put["Put"]["Item"]}}
        for token in tokens
        for put in token_claim(index, subject_id, token, datetime.now(UTC))
    ]
    for start in range(0, len(puts), 25):
        dynamodb.batch_write_item(RequestItems={index: puts[start : start + 25]})
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="ADD #l :n",
        ExpressionAttributeNames={"#l": f"links_{kind}"},
        ExpressionAttributeValues={":n": {"N": str(count)}},
    )
    return tokens


def test_an_item_over_dynamodbs_size_limit_is_not_reported_as_retryable(lambdas, aws_faults):
    aws_faults.fail(
        "dynamodb",
        "TransactWriteItems",
        "ValidationException",
        message="Item size has exceeded the maximum allowed size",
    )

    code, body = lambdas.post("store", factories.store(person(1731)))

    assert code == 422 and body["error"]["code"] == "profile_too_large", body
    assert body["error"]["retryable"] is False


def subject_ids(lambdas: Any) -> set[str]:
    return {i["subject_id"]["S"] for i in profile_table(lambdas) if i.get("sk", {}).get("S") == "PROFILE"}


# Finding 3: suppression by value, not by kind; suppress: false keeps no tokens; rectification releases every token


def test_a_number_suppressed_as_phone_is_refused_as_whatsapp(lambdas):
    # Given a person known by their phone number, erased with suppression
    p = person(1701)
    assert lambdas.post("sms", factories.sms(p))[0] == 200
    assert erase(lambdas, {"phone": p.phone})[0] == 202
    drain(lambdas)
    before = profile_table(lambdas), index_table(lambdas)

    # When the same number writes through WhatsApp, the only identifier the contact center has
    payload = factories.contact_center(p, caller={"whatsapp": p.phone})
    code, body = lambdas.post("contact-center", payload)

    # Then it is refused: both kinds normalize to the same E.164 value, and the person stays erased
    assert code == 409 and body["error"]["code"] == "subject_erased", body
    assert (profile_table(lambdas), index_table(lambdas)) == before


def test_a_number_suppressed_as_whatsapp_can_be_lifted_by_naming_it_as_phone(lambdas):
    p = person(1702)
    assert lambdas.post("contact-center", factories.contact_center(p, caller={"whatsapp": p.phone}))[0] == 200
    assert erase(lambdas, {"whatsapp": p.phone})[0] == 202
    drain(lambdas)
    assert lambdas.post("sms", factories.sms(p))[0] == 409

    code, lifted = call(lambdas, "POST", "suppression-lifts", {"subject": {"phone": p.phone}, **CASE})

    assert code == 200 and lifted["counts"] == {"suppressions_lifted": 1, "not_suppressed": 0}, lifted
    assert lambdas.post("sms", factories.sms(p))[0] == 200


def test_an_erasure_without_suppression_keeps_no_token_in_its_request_or_audit(lambdas):
    # Given a person erased with suppress: false
    p = person(1703)
    assert lambdas.post("web", factories.web(p))[0] == 200
    code, accepted = erase(lambdas, {"email": p.email}, regulation="ccpa", suppress=False)
    assert code == 202
    drain(lambdas)

    # Then the completed request says how much was done
    done = status(lambdas, accepted["request_id"])
    assert done["state"] == "completed" and done["counts"]["tokens_released"] >= 4
    assert done["identifiers"] >= 4
    # and neither the request nor any audit entry keeps a token that could find the person again
    request_items = [
        i
        for table in ("ComplianceTable", "AuditTable")
        for i in lambdas.aws.scan(table)
        if i.get("request_id", {}).get("S") == accepted["request_id"]
    ]
    assert len(request_items) >= 5
    assert "t1." not in json.dumps(request_items), [i.get("tokens") for i in request_items]


def test_rectification_releases_every_token_of_the_kind_it_replaces(lambdas):
    # Given a person who used two emails over time: the profile holds the newer, and both tokens
    p, older, corrected = person(1704), person(1705), person(1706)
    lambdas.post("web", factories.web(p))
    subject_id = lambdas.aws.subject_of("email", p.email)
    code, body = lambdas.post("store", factories.store(p, customer={"rfc": p.rfc, "email": older.email}))
    assert code == 200 and body["results"][0]["profile_id"] == subject_id
    assert sum(t.startswith("t1.email.") for t in tokens_of(lambdas, subject_id)) == 2
    # and whose stored email no longer decrypts (a damaged value must not keep its token alive)
    dynamodb = boto3.client("dynamodb")
    dynamodb.update_item(
        TableName=lambdas.aws.table("ProfileTable"),
        Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET #f.#e.#v = :junk",
        ExpressionAttributeNames={"#f": "fields", "#e": "email", "#v": "v"},
        ExpressionAttributeValues={":junk": {"B": b"\x01" + b"\0" * 40}},
    )

    # When compliance corrects the email
    code, done = call(
        lambdas,
        "POST",
        "rectifications",
        {"subject": {"subject_id": subject_id}, "corrections": {"email": corrected.email}, **CASE},
    )

    # Then both old emails are released, and only the corrected one finds the person
    assert code == 200, done
    assert done["counts"]["tokens_released"] == 2
    emails = {t for t in tokens_of(lambdas, subject_id) if t.startswith("t1.email.")}
    assert len(emails) == 1
    for old in (p.email, older.email):
        code, body = call(lambdas, "POST", "exports", {"subject": {"email": old}, **CASE})
        assert code == 404 and body["error"]["code"] == "subject_not_found"


# Finding 5: the smaller ones


def test_a_409_part_way_through_a_batch_says_what_was_stored_and_the_rest_is_stored(lambdas):
    # Given an erased person, and a store batch whose middle ticket is theirs
    erased, others = person(1710), [person(1711), person(1712)]
    assert lambdas.post("store", factories.store(erased, folio="E-1"))[0] == 200
    assert erase(lambdas, {"rfc": erased.rfc})[0] == 202
    drain(lambdas)
    batch = [
        factories.store(others[0], folio="K-1"),
        factories.store(erased, folio="E-2"),
        factories.store(others[1], folio="K-2"),
    ]
    ids = [t["event_id"] for t in batch]

    # When the channel sends it, then resends it
    code, body = lambdas.post("store", {"touchpoints": batch})
    again_code, again = lambdas.post("store", {"touchpoints": batch})

    # Then the answer says which were stored and which were refused
    assert code == 409 and body["error"]["code"] == "subject_erased", body
    assert [r["event_id"] for r in body["results"]] == [ids[0], ids[2]]
    assert body["not_stored"] == [ids[1]]
    # and everyone else's touchpoints are stored (once), the erased person's never
    stored = {i["event_id"] for i in factories.opened_items(lambdas.aws, "event")}
    assert {ids[0], ids[2]} <= stored and ids[1] not in stored
    assert again_code == 409 and {r["status"] for r in again["results"]} == {"duplicate"}


class StaleTwiceStore(InMemoryStore):
    """The first writes of a new person lose to a concurrent change and are retried."""

    def __init__(self) -> None:
        super().__init__()
        self.stale_next = 2
        self.written: list[ProfileWrite] = []

    def write(self, change: ProfileWrite) -> None:
        self.written.append(change)
        super().write(change)


def test_a_new_persons_retries_reuse_one_data_key():
    store, wrapper = StaleTwiceStore(), CountingWrapper()
    outcome = ingest(service(store, wrapper), touchpoint("e1", email="ana@example.mx"))

    assert outcome.new_profile and len(store.written) == 3
    assert wrapper.generated == 1
    assert {w.new_subject_key for w in store.written} == {store.keys[outcome.profile_id]}


def test_a_transaction_conflict_on_a_rectification_is_retried(lambdas, aws_faults):
    p, corrected = person(1713), person(1714)
    lambdas.post("web", factories.web(p))
    subject_id = lambdas.aws.subject_of("email", p.email)
    writes_before = aws_faults.attempts("dynamodb", "TransactWriteItems")
    aws_faults.fail(
        "dynamodb",
        "TransactWriteItems",
        "TransactionCanceledException",
        times=1,
        reasons=["None", "None", "TransactionConflict"],
    )

    code, done = call(
        lambdas,
        "POST",
        "rectifications",
        {"subject": {"subject_id": subject_id}, "corrections": {"email": corrected.email}, **CASE},
    )

    assert code == 200, done
    assert done["state"] == "completed" and done["counts"]["tokens_claimed"] == 1
    assert aws_faults.attempts("dynamodb", "TransactWriteItems") - writes_before == 2


def test_an_export_that_cannot_decrypt_is_a_clear_failure_not_a_500(lambdas):
    p = person(1715)
    lambdas.post("web", factories.web(p))
    subject_id = lambdas.aws.subject_of("email", p.email)
    boto3.client("dynamodb").update_item(
        TableName=lambdas.aws.table("ProfileTable"),
        Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET #f.#n.#v = :junk",
        ExpressionAttributeNames={"#f": "fields", "#n": "given_name", "#v": "v"},
        ExpressionAttributeValues={":junk": {"B": b"\x01" + b"\0" * 40}},
    )

    code, body = call(lambdas, "POST", "exports", {"subject": {"subject_id": subject_id}, **CASE})

    assert code == 409 and body["error"]["code"] == "data_unreadable" and not body["error"]["retryable"], body
    (request,) = lambdas.aws.scan("ComplianceTable")
    assert request["state"]["S"] == "failed"
    actions = {i["action"]["S"] for i in lambdas.aws.scan("AuditTable")}
    assert actions == {"export.received", "export.failed"}


@pytest.mark.parametrize(
    "reference", ["XAXX010101000", "HEGG560427MVZRRL04", "5512345678", "55-1234-5678", "+525512345678"]
)
def test_a_case_reference_cannot_be_an_rfc_curp_or_phone_number(lambdas, reference):
    p = person(1716)
    assert lambdas.post("web", factories.web(p))[0] == 200

    code, body = call(
        lambdas,
        "POST",
        "exports",
        {"subject": {"email": p.email}, "regulation": "gdpr", "case_reference": reference},
        personal_answer=True,
    )

    assert code == 422, body
    assert not lambdas.aws.scan("ComplianceTable")


def test_ordinary_case_references_are_accepted(lambdas):
    p = person(1717)
    assert lambdas.post("web", factories.web(p))[0] == 200
    for reference in ("CASE-2026-0042", "ARCO-17", "dsr.2026.11.30-7"):
        code, body = call(
            lambdas,
            "POST",
            "exports",
            {"subject": {"email": p.email}, "regulation": "gdpr", "case_reference": reference},
            personal_answer=True,
        )
        assert code == 200, body


def test_the_key_cache_ttl_counts_from_the_unwrap_not_from_the_last_use():
    now = [0.0]
    wrapper = CountingWrapper()
    keyring = SubjectKeyring(wrapper, ttl_seconds=900, clock=lambda: now[0])
    new_key, cipher = keyring.new_subject_key("sub_1")
    keyring.remember("sub_1", cipher)
    for minute in range(1, 20):  # a person seen every minute; each write remembers the cipher again
        now[0] = minute * 60.0
        keyring.remember("sub_1", keyring.cipher_from_wrapped("sub_1", new_key.wrapped))

    assert wrapper.unwrapped >= 1  # unwrapped again once 15 minutes had passed since the last unwrap


def _kms_statements(logical_id: str) -> list[dict[str, Any]]:
    from tests.reliability.test_iam_policies import statements

    return [s for s in statements(logical_id) if any(str(a).startswith("kms:") for a in _actions(s))]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def context_keys_allowed(statement: dict[str, Any], context_keys: Collection[str]) -> bool:
    """IAM's evaluation of the kms:EncryptionContextKeys conditions a statement carries (none: allowed)."""
    condition = statement.get("Condition", {})
    allowed = condition.get("ForAllValues:StringEquals", {}).get("kms:EncryptionContextKeys")
    required = condition.get("ForAnyValue:StringEquals", {}).get("kms:EncryptionContextKeys")
    if allowed is not None and not set(context_keys) <= set(allowed):
        return False
    return required is None or bool(set(context_keys) & set(required))


BRANCH_CONTEXT = ("branch_key_id", "branch_key_version")


def test_kms_grants_require_the_subject_encryption_context(lambdas, local_aws):
    from tests.conftest import FUNCTIONS

    kms_users = [f for f in sorted(FUNCTIONS) if _kms_statements(f)]
    assert "WebChannelFunction" in kms_users and "ComplianceApiFunction" in kms_users
    for logical_id in kms_users:
        for statement in _kms_statements(logical_id):
            # A key without the person's context (or with another context key) is refused. S3 asks for an
            # export object's key under the object's own context (SSE-KMS), never the person's; a branch key is
            # unwrapped under its own context (branch key id and version), which opens no person's data key.
            equals = statement.get("Condition", {}).get("StringEquals", {})
            if "kms:ViaService" in equals:
                expected = ["aws:s3:arn"]
            elif "kms:EncryptionContext:branch_key_id" in equals:
                expected = list(BRANCH_CONTEXT)
                assert not context_keys_allowed(statement, ["subject_id"]), (
                    f"{logical_id}: a branch grant opens data keys"
                )
                assert not context_keys_allowed(statement, ["subject_id", "branch_key_version"]), logical_id
            else:
                expected = ["subject_id"]
                assert not context_keys_allowed(statement, list(BRANCH_CONTEXT)), f"{logical_id}: opens branch keys"
            assert not context_keys_allowed(statement, []), f"{logical_id}: no context is allowed"
            assert not context_keys_allowed(statement, ["tenant"]), f"{logical_id}: any context is allowed"
            assert context_keys_allowed(statement, expected), logical_id
    # and the code always sends exactly one of those contexts: a branch key's, or (a stack before its first branch
    # key, or a data key from before the hierarchy) the person's
    with aws_hooks.recording() as calls:
        p = person(1718)
        assert lambdas.post("web", factories.web(p))[0] == 200
        container.reset()
        assert lambdas.post("web", factories.web(p, "page_view"))[0] == 200
        with factories.before_first_branch_key(local_aws):
            assert lambdas.post("web", factories.web(person(1721)))[0] == 200
    kms_calls = [c for c in calls if c.service == "kms"]
    assert {c.operation for c in kms_calls} == {"GenerateDataKey", "Decrypt"}
    contexts = {frozenset(c.params["EncryptionContext"]) for c in kms_calls}
    assert contexts == {frozenset({"subject_id"}), frozenset(BRANCH_CONTEXT)}
    branch_contexts = [
        c.params["EncryptionContext"] for c in kms_calls if "branch_key_id" in c.params["EncryptionContext"]
    ]
    assert all(context["branch_key_id"] == "subject-data-keys" for context in branch_contexts)


def test_the_compliance_function_is_granted_only_what_it_calls(lambdas, local_aws):
    p, corrected = person(1719), person(1720)
    lambdas.post("web", factories.web(p))
    subject_id = lambdas.aws.subject_of("email", p.email)
    with aws_hooks.recording() as calls:
        call(lambdas, "POST", "exports", {"subject": {"email": p.email}, **CASE}, personal_answer=True)
        call(
            lambdas,
            "POST",
            "rectifications",
            {"subject": {"subject_id": subject_id}, "corrections": {"email": corrected.email}, **CASE},
        )
        call(
            lambdas,
            "POST",
            "objections",
            {"subject": {"subject_id": subject_id}, "objections": [{"purpose": "marketing", "channel": "all"}], **CASE},
        )
        _, accepted = erase(lambdas, {"subject_id": subject_id})
        call(lambdas, "GET", f"requests/{accepted['request_id']}")
        call(lambdas, "POST", "suppression-lifts", {"subject": {"email": p.email}, **CASE})
    api_calls = [c for c in calls if c.service != "sqs"]
    needed = used(api_calls, local_aws.provisioned)
    grants = {g for g in granted("ComplianceApiFunction") if not g[0].startswith("sqs:")}
    assert ("dynamodb:ConditionCheckItem", "ProfileTable") not in grants
    assert needed - grants == set()
