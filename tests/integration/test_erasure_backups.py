"""A backup of the profile table restored after an erasure, read by someone holding the tokenization secret and
the KMS key (issue 17, finding 4): that nothing in it leads from an identifier to the person, and that they can read
nothing of them. The identity index, which links identifiers to subjects, is another table with no backups.

Point-in-time recovery restores the table as it was, into a new table: here, a scan taken before the erasure is
written into a fresh table built from template.yaml's definition of the profile table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local_runner.emulator.provision import _create_table
from tests import factories
from tests.cloudformation import sam_template
from tests.conftest import find_pii
from tests.integration.compliance_helpers import call, drain, erase, lean_transaction_backups
from tests.integration.identity_helpers import Merges
from tests.integration.test_classifier_stream import Pipeline
from tests.integration.test_identity_merge import ANALYTICS
from tests.integration.test_identity_merge import stored as stored_result
from tests.people import person
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.items import profile as profile_item
from touchpoints.model import IdentifierKind
from touchpoints.privacy.cipher import DecryptionFailed, SubjectCipher
from touchpoints.privacy.tokenizer import Tokenizer

CASE = {"regulation": "gdpr", "case_reference": "CASE-2026-1700"}
DAY = 86_400


@pytest.fixture(autouse=True)
def _lean_backups(monkeypatch):
    lean_transaction_backups(monkeypatch)


def restored(aws: Any, backup: list[dict[str, Any]], name: str = "ProfileTable-restored") -> str:
    """The backup written into a new table with the profile table's definition, as a point-in-time restore makes."""
    props = {**sam_template()["Resources"]["ProfileTable"]["Properties"], "TableName": name}
    props.pop("StreamSpecification", None)  # a restored table has no stream: nothing classifies what is written here
    table = _create_table(aws.dynamodb, "ProfileTable", props, aws.provisioned.intrinsics)
    for start in range(0, len(backup), 25):
        batch = [{"PutRequest": {"Item": item}} for item in backup[start : start + 25]]
        assert not aws.dynamodb.batch_write_item(RequestItems={table: batch}).get("UnprocessedItems")
    return table


def tokenizer(aws: Any) -> Tokenizer:
    secret_id = aws.provisioned.intrinsics.refs["TokenizationSecret"]
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return Tokenizer(secret.encode())


def keys_still_held(aws: Any) -> dict[str, SubjectCipher]:
    """Every data key the vault still holds, unwrapped as the functions do (under its branch key, or by KMS)."""
    ciphers = {}
    for item in aws.scan("KeyVaultTable"):
        subject_id = item["pk"]["S"].removeprefix("SUBJECT#")
        ciphers[subject_id] = SubjectCipher(subject_id, factories.unwrapped_key(subject_id, item["wrapped_key"]["B"]))
    return ciphers


def open_sealed(cipher: SubjectCipher, item: dict[str, Any]) -> str:
    schema = event_item if item["entity"]["S"] == event_item.ENTITY else consent_item
    return cipher.decrypt(schema.sealed_field(item["sk"]["S"]), bytes(item["sealed"]["B"]))


def test_a_backup_restored_after_an_erasure_shows_nothing_of_what_the_person_did(lambdas, local_aws, monkeypatch):
    # Given a person seen on the web, at a store, by email and SMS, who changed consents at a preference centre and
    # objected through compliance, classified by the stream like every profile, and someone else
    monkeypatch.setenv("RECLASSIFY_LOOKBACK_DAYS", "366")
    pipeline = Pipeline(lambdas, local_aws)
    p, other = person(170), person(171)
    sent = [
        factories.web(p, "purchase"),
        factories.store(p, folio="F-1700"),
        factories.email(p, "open"),
        factories.sms(p, "click"),
    ]
    channels = ["web", "store", "email", "sms"]
    subject_id = pipeline.post("web", sent[0])
    for channel, body in zip(channels[1:], sent[1:], strict=True):
        assert pipeline.post(channel, body) == subject_id
    preference = {
        "event_id": "pref-centre-1700",
        "occurred_at": factories.occurred(20),
        "subject": {"email": p.email},
        "consent": [{"purpose": "marketing", "channel": "sms", "granted": False}],
    }
    assert pipeline.post("web", preference, resource="consents") == subject_id
    objection = {"subject": {"subject_id": subject_id}, "objections": [{"purpose": "personalization"}], **CASE}
    code, objected = call(lambdas, "POST", "objections", objection)
    assert code == 200, objected
    other_id = pipeline.post("web", factories.web(other))
    pipeline.pump()
    assert pipeline.state(subject_id)

    # and a backup of the whole table taken before the erasure (the identity index has none)
    backup = local_aws.scan("ProfileTable")
    linked_before = factories.linked_tokens(local_aws.scan("IdentityIndexTable"), subject_id)
    partition = [i for i in backup if i["pk"]["S"] == f"SUBJECT#{subject_id}"]
    events = [i for i in partition if i["entity"]["S"] == event_item.ENTITY]
    history = [i for i in partition if i["entity"]["S"] == consent_item.ENTITY]
    assert len(events) == len(sent) + 1 and len(history) >= 3
    own_key = keys_still_held(local_aws)[subject_id]
    facts = {body["event_id"] for body in sent} | {"pref-centre-1700", objected["request_id"]}
    facts |= {body.get("action") or body.get("event") or "" for body in sent} - {""}
    facts |= {body["occurred_at"][:16] for body in sent} | {f"#{channel}#" for channel in channels}
    facts |= {"marketing", "personalization", "analytics"}
    # (the person's own key opens them, and what they say is in there: so the checks below can fail)
    opened = "\n".join(open_sealed(own_key, item) for item in events + history)
    assert {fact for fact in facts if fact.strip("#") not in opened} == set()

    # When the person is erased, and the backup is restored afterwards
    code, accepted = erase(lambdas, {"email": p.email})
    assert code == 202, accepted
    assert drain(lambdas) == 1
    table = restored(local_aws, backup)

    # Then, with the tokenization secret, none of the person's identifiers finds anything there: no token item, no
    # link, no item that names the token at all (the live index found them before the erasure: the check can fail)
    tokens = tokenizer(local_aws)
    held = {
        tokens.token(IdentifierKind.EMAIL, p.email.lower()),
        tokens.token(IdentifierKind.PHONE, p.phone_e164),
        tokens.token(IdentifierKind.RFC, p.rfc),
    }
    assert held <= linked_before and len(linked_before) > len(held)  # a ticket and an anonymous id besides
    whole_copy = local_aws.dynamodb.scan(TableName=table)["Items"]
    for token in held | linked_before:
        item = local_aws.dynamodb.get_item(TableName=table, Key={"pk": {"S": f"TOKEN#{token}"}, "sk": {"S": "TOKEN"}})
        assert "Item" not in item
        assert not [i for i in whole_copy if token in json.dumps(i, default=str)]
    assert not [i for i in whole_copy if i["pk"]["S"].startswith("TOKEN#") or i["sk"]["S"].startswith("LINK#")]
    # and a copy taken after the erasure holds only the suppression list: the tokens, naming no subject or request
    after = restored(local_aws, local_aws.scan("ProfileTable"), "ProfileTable-after")
    for token in held:
        marker = local_aws.dynamodb.get_item(TableName=after, Key={"pk": {"S": f"TOKEN#{token}"}, "sk": {"S": "TOKEN"}})
        assert set(marker["Item"]) == {"pk", "sk", "entity", "suppressed", "erased_at"}, marker
    local_aws.dynamodb.delete_table(TableName=after)
    # The subject's own partition is still in the older copy, under its random id, but only an id from outside the
    # copy (the erasure's request record in the compliance table) leads to it: see docs/compliance.md
    found = local_aws.dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SUBJECT#{subject_id}"}},
    )["Items"]
    assert len(found) == len(partition)

    # but no event or consent history item of theirs says which channel, event, action, purpose or time it was:
    # only its keys, the subject id, ciphertexts and a TTL day
    sealed = [i for i in found if i["entity"]["S"] in (event_item.ENTITY, consent_item.ENTITY)]
    assert len(sealed) == len(events) + len(history)
    for item in sealed:
        schema = event_item if item["entity"]["S"] == event_item.ENTITY else consent_item
        assert set(item) <= schema.ATTRIBUTES, set(item) - schema.ATTRIBUTES
        readable = json.dumps({k: v for k, v in item.items() if k not in ("sealed", "details")}, default=str)
        assert not {fact for fact in facts if fact in readable}, item["sk"]["S"]
        if event_item.EXPIRES_AT in item:
            assert int(item[event_item.EXPIRES_AT]["N"]) % DAY == 0  # a day, not the time of the touchpoint
    assert not find_pii(json.dumps(found, default=str))

    # and no key anyone still holds opens any of its ciphertexts: not another person's, not a guessed one
    held_keys = keys_still_held(local_aws)
    assert other_id in held_keys and subject_id not in held_keys
    ciphers = [*held_keys.values(), SubjectCipher(subject_id, b"\0" * 32)]
    profile = next(i for i in found if i["sk"]["S"] == "PROFILE")
    for item in sealed:
        for cipher in ciphers:
            with pytest.raises(DecryptionFailed):
                open_sealed(cipher, item)
    for name, stored in profile["fields"]["M"].items():
        for cipher in ciphers:
            with pytest.raises(DecryptionFailed):
                cipher.decrypt(name, bytes(stored["M"]["v"]["B"]))
    # What stays readable is the profile item, the stream classifier's input (docs/compliance.md):
    # declared attributes, no personal value and no event, but the consent answers it classifies by, which fields
    # were held and when confirmed, the channels seen, trace counters, the last trace's time and the state.
    assert set(profile) <= profile_item.ATTRIBUTES
    assert not [body["event_id"] for body in sent if body["event_id"] in json.dumps(profile, default=str)]
    assert {"personalization:all", "marketing:sms"} <= set(profile[profile_item.CONSENTS]["M"])
    assert profile[profile_item.STATE]["S"] and profile[profile_item.LAST_TRACE_AT]["S"]


def test_events_and_consent_history_written_before_issue_17_are_still_exported(lambdas, local_aws):
    # Given a person, and an event and a consent history item of theirs in the shape written before issue 17
    p = person(172)
    code, body = lambdas.post("web", factories.web(p))
    assert code == 200, body
    subject_id = local_aws.subject_of("email", p.email)  # a public channel's answer does not say
    cipher = factories.subject_cipher(
        local_aws.dynamodb, boto3.client("kms"), local_aws.table("KeyVaultTable"), subject_id
    )
    at = datetime(2026, 10, 1, 12, 30, tzinfo=UTC).isoformat()
    for item in factories.legacy_history(subject_id, cipher, "legacy-1", at):
        local_aws.dynamodb.put_item(TableName=local_aws.table("ProfileTable"), Item=item)

    # When compliance exports the person
    code, document = call(lambdas, "POST", "exports", {"subject": {"email": p.email}, **CASE}, personal_answer=True)

    # Then both shapes are in it, read alike
    assert code == 200, document
    interactions = {i["event_id"]: i for i in document["interactions"]}
    assert interactions["legacy-1"] == {
        "channel": "store",
        "event_id": "legacy-1",
        "kind": "transactional",
        "action": "purchase",
        "occurred_at": at,
        "received_at": at,
        "minimized": False,
        "details": {"total": "10.00"},
        "kept_until": 1900000000,
    }
    assert interactions[body["results"][0]["event_id"]]["channel"] == "web"
    changes = [c for c in document["consent_history"] if c["reference"] == "legacy-1"]
    assert changes == [
        {
            "consent": "marketing:store",
            "granted": True,
            "collected_at": at,
            "source": "store",
            "policy_version": "2026-11-01",
            "reference": "legacy-1",
        }
    ]
    assert any(c["reference"] == body["results"][0]["event_id"] for c in document["consent_history"])


def test_backups_of_a_merged_person_taken_before_the_merge_and_before_the_erasure_show_nothing(lambdas, local_aws):
    # Given an anonymous web visitor and the same person known from the app, and a copy of both taken now
    p = person(173)
    visits = [
        factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id="anon-173") for _ in range(3)
    ]
    for visit in visits:
        stored_result(lambdas, "web", visit)
    stored_result(lambdas, "app", factories.app(p, "sign_up"))
    anonymous, known = local_aws.subject_of("anonymous_id", "anon-173"), local_aws.subject_of("email", p.email)
    assert anonymous and known and anonymous != known
    before_merge = local_aws.scan("ProfileTable")
    # When a vouched login merges them, the survivor holds every visit sealed under its own key
    stored_result(
        lambdas, "web", factories.web(p, "login", anonymous_id="anon-173", customer={"email": p.email}), email=p.email
    )
    Merges(lambdas).settle()
    moved = factories.opened_items(local_aws, "event", known)
    assert {v["event_id"] for v in visits} <= {e["event_id"] for e in moved}
    # and a second copy is taken, then the survivor is erased
    before_erasure = local_aws.scan("ProfileTable")
    code, accepted = erase(lambdas, {"email": p.email})
    assert code == 202, accepted
    drain(lambdas)

    # Then both copies, restored, open under no key still held, and say in the clear nothing of what the person did
    held = keys_still_held(local_aws)
    assert not {anonymous, known} & set(held)
    for copy in (before_merge, before_erasure):
        table = restored(local_aws, copy)
        items = local_aws.dynamodb.scan(TableName=table)["Items"]
        local_aws.dynamodb.delete_table(TableName=table)
        mine = [i for i in items if i.get("subject_id", {}).get("S") in (anonymous, known)]
        sealed = [i for i in mine if i["entity"]["S"] in (event_item.ENTITY, consent_item.ENTITY)]
        assert sealed
        for item in sealed:
            assert set(item) <= (event_item.ATTRIBUTES | consent_item.ATTRIBUTES)
            for cipher in [*held.values(), SubjectCipher(item["subject_id"]["S"], b"\0" * 32)]:
                with pytest.raises(DecryptionFailed):
                    open_sealed(cipher, item)
        text = json.dumps(mine, default=str)
        assert not [v["event_id"] for v in visits if v["event_id"] in text]
        assert not find_pii(text)
