"""Builders for API Gateway events, Lambda contexts and each channel's touchpoint payloads."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from tests.people import Person
from touchpoints import normalize
from touchpoints.adapters import keys
from touchpoints.adapters.branch_keys import DynamoBranchKeys
from touchpoints.adapters.kms import KmsKeyWrapper
from touchpoints.ingestion import TraceRecord, sealed_event, trace_details_field
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.model import IdentifierKind, TraceKind
from touchpoints.privacy.branch_keys import BranchKeyCache, HierarchicalKeyWrapper
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.tokenizer import Tokenizer, vouch_proof

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"


@dataclass
class LambdaContext:
    function_name: str = "local-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_ms: int = 15_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def lambda_context(function_name: str = "local-function", timeout_seconds: int = 15) -> LambdaContext:
    return LambdaContext(
        function_name=function_name, aws_request_id=str(uuid.uuid4()), remaining_ms=timeout_seconds * 1000
    )


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    api_key_id: str | None = None,
    raw_body: str | None = None,
    base64_body: bool = False,
    headers: dict[str, str] | None = None,
    user_arn: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API (v1) proxy event, as API Gateway sends it after its own auth checks."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if text is not None and base64_body:
        text = base64.b64encode(text.encode()).decode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
            "accountId": "123456789012",
            "apiId": "localapi",
            "identity": {"apiKeyId": api_key_id, "apiKey": None, "sourceIp": "127.0.0.1", "userArn": user_arn},
        },
        "body": text,
        "isBase64Encoded": base64_body,
    }


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


_clock = datetime.now(UTC) - timedelta(days=2)


def occurred(minutes: int = 0) -> str:
    return (_clock + timedelta(minutes=minutes)).isoformat()


def event_id(prefix: str = "evt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


ALL_GRANTED = [
    {"purpose": "personalization", "granted": True},
    {"purpose": "analytics", "granted": True},
    {"purpose": "marketing", "channel": "all", "granted": True},
]


def web(p: Person, action: str = "sign_up", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": event_id("web"),
        "occurred_at": occurred(),
        "action": action,
        "anonymous_id": f"anon-{p.app_user_id}",
        "page_path": "/registro",
        "customer": p.customer(with_address=True),
        "consent": deepcopy(ALL_GRANTED),
    }
    if action == "purchase":
        payload["order"] = {"order_id": "ORD-1001", "total": 1299.5, "currency": "MXN", "home_delivery": True}
    payload.update(extra)
    return payload


def app(p: Person, action: str = "app_open", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": event_id("app"),
        "occurred_at": occurred(1),
        "app_user_id": p.app_user_id,
        "push_token": p.push_token,
        "action": action,
        "screen": "home",
        "customer": {"email": p.email},
        "consent": deepcopy(ALL_GRANTED),
    }
    payload.update(extra)
    return payload


def email(p: Person, event: str = "click", **extra: Any) -> dict[str, Any]:
    payload = {"event_id": event_id("eml"), "occurred_at": occurred(2), "recipient": p.email, "event": event}
    if event in ("open", "click"):
        payload["campaign_id"] = "buen-fin-2026"
    payload.update(extra)
    return payload


def sms(p: Person, event: str = "click", **extra: Any) -> dict[str, Any]:
    payload = {"event_id": event_id("sms"), "occurred_at": occurred(3), "phone": p.phone, "event": event}
    payload.update(extra)
    return payload


def push(p: Person, event: str = "open", **extra: Any) -> dict[str, Any]:
    payload = {
        "event_id": event_id("psh"),
        "occurred_at": occurred(4),
        "push_token": p.push_token,
        "app_user_id": p.app_user_id,
        "event": event,
        "campaign_id": "buen-fin-2026",
    }
    payload.update(extra)
    return payload


def contact_center(p: Person, medium: str = "whatsapp", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": event_id("cc"),
        "occurred_at": occurred(5),
        "medium": medium,
        "caller": {"phone": p.phone, "whatsapp": p.phone, "messenger_id": p.messenger_id, "email": p.email},
        "reason": "complaint",
        "case_id": "CASE-77",
        "consent": [{"purpose": "personalization", "granted": True}],
    }
    payload.update(extra)
    return payload


def store(p: Person | None, folio: str = "F-000123", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": event_id("pos"),
        "occurred_at": occurred(6),
        "store_id": "TDA-042",
        "ticket_folio": folio,
        "total": 459.9,
        "payment_method": "card",
    }
    if p is not None:
        payload["customer"] = {"rfc": p.rfc, "email": p.email, "given_name": p.given_name}
        payload["consent"] = [{"purpose": "personalization", "granted": True}]
        payload["digital_ticket"] = "email"
    payload.update(extra)
    return payload


CHANNEL_PAYLOADS = {
    "web": web,
    "app": app,
    "email": email,
    "sms": sms,
    "push": push,
    "contact-center": contact_center,
    "store": store,
}
CHANNEL_FUNCTIONS = {
    "web": "WebChannelFunction",
    "app": "AppChannelFunction",
    "email": "EmailChannelFunction",
    "sms": "SmsChannelFunction",
    "push": "PushChannelFunction",
    "contact-center": "ContactCenterChannelFunction",
    "store": "StoreChannelFunction",
}
CHANNEL_API_KEYS = {
    "web": "WebApiKey",
    "app": "AppApiKey",
    "email": "EmailApiKey",
    "sms": "SmsApiKey",
    "push": "PushApiKey",
    "contact-center": "ContactCenterApiKey",
    "store": "StoreApiKey",
}


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, receive_count: int | None = None) -> dict[str, Any]:
    """The event Lambda's SQS poller sends, built from `receive_message` answers (with AttributeNames=["All"])."""
    records = []
    for message in messages:
        attributes = dict(message.get("Attributes", {}))
        attributes.setdefault("ApproximateReceiveCount", "1")
        if receive_count is not None:
            attributes["ApproximateReceiveCount"] = str(receive_count)
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def seed_subject_events(
    dynamodb: Any, table: str, subject_id: str, count: int, cipher: SubjectCipher | None = None, note: str = ""
) -> None:
    """Store events written straight into a subject's partition, 25 a batch: for measuring or testing erasure and
    export at scale without ingesting thousands of touchpoints first. With the subject's `cipher`, store purchases
    sealed as ingestion seals them (details name `note`); random bytes otherwise, which only erasure can handle."""
    now = datetime.now(UTC)
    for start in range(0, count, 25):
        batch = []
        for n in range(start, min(start + 25, count)):
            event_id = f"seed-{n:06d}"
            item = {
                event_item.PK: {"S": keys.subject_pk(subject_id)},
                event_item.ENTITY_ATTR: {"S": event_item.ENTITY},
                event_item.SUBJECT_ID: {"S": subject_id},
                event_item.EXPIRES_AT: {"N": str(int((now + timedelta(days=365)).timestamp()))},
            }
            if cipher is None:
                sk = event_item.SK_PREFIX + base64.urlsafe_b64encode(os.urandom(18)).decode()
                item.update({event_item.SK: {"S": sk}, event_item.SEALED: {"B": os.urandom(160)}})
                item[event_item.DETAILS] = {"B": os.urandom(64)}
            else:
                trace = TraceRecord(
                    TraceKind.TRANSACTIONAL, "purchase", now - timedelta(minutes=count - n), False, None, 0
                )
                sealed = sealed_event(cipher, "store", event_id, now, trace)
                plain = {"store_id": f"MX-{n % 97:04d}", "ticket": f"T-{n:08d}", "total": f"{(n % 5000) / 10:.2f}"}
                if note:
                    plain["note"] = note
                details = cipher.encrypt(trace_details_field("store", event_id), json.dumps(plain))
                item.update(
                    {
                        event_item.SK: {"S": sealed.sort_key},
                        event_item.SEALED: {"B": sealed.ciphertext},
                        event_item.DETAILS: {"B": details},
                    }
                )
            batch.append({"PutRequest": {"Item": item}})
        assert not dynamodb.batch_write_item(RequestItems={table: batch}).get("UnprocessedItems")


def data_key_wrapper(dynamodb: Any = None, kms: Any = None) -> HierarchicalKeyWrapper:
    """What the functions unwrap a data key with: its branch key version (read and unwrapped with KMS), or KMS itself
    for a data key from before the hierarchy. On the local stack's names (env.json)."""
    dynamodb, kms = dynamodb or boto3.client("dynamodb"), kms or boto3.client("kms")
    source = DynamoBranchKeys(dynamodb, kms, "BranchKeyTable", "alias/DataKey")
    return HierarchicalKeyWrapper(BranchKeyCache(source), KmsKeyWrapper(kms, "alias/DataKey"))


@contextmanager
def before_first_branch_key(aws: Any) -> Iterator[None]:
    """The stack as deployed before the key hierarchy, or before its operator's first `keys branch-keys start`: its
    branch keys put aside (and back after), each side of it a new container."""
    from tests.reliability.aws_hooks import unrecorded
    from touchpoints.wiring import container

    table = aws.table("BranchKeyTable")
    with unrecorded():
        kept = aws.scan("BranchKeyTable")
        for item in kept:
            aws.dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    container.reset()
    try:
        yield
    finally:
        with unrecorded():
            for item in kept:
                aws.dynamodb.put_item(TableName=table, Item=item)
        container.reset()


def unwrapped_key(subject_id: str, wrapped: bytes) -> bytes:
    """A vault item's data key, unwrapped as the functions do."""
    return data_key_wrapper().unwrap(subject_id, bytes(wrapped))


def subject_cipher(dynamodb: Any, kms: Any, vault_table: str, subject_id: str) -> SubjectCipher:
    """The subject's own cipher, its data key unwrapped from the vault as the functions do."""
    vault = dynamodb.get_item(TableName=vault_table, Key=keys.vault_key(subject_id))["Item"]
    key = data_key_wrapper(dynamodb, kms).unwrap(subject_id, bytes(vault["wrapped_key"]["B"]))
    return SubjectCipher(subject_id, key)


def opened_items(aws: Any, entity: str, subject_id: str | None = None) -> list[dict[str, Any]]:
    """The event or consent history items of the profile table (of one subject, or of everyone whose key is kept),
    each with what it seals opened by its subject's key, as the compliance export opens them:
    an event's metadata (`channel`, `event_id`, `trace`, ...) or a consent answer (`key`, `granted`, ...), one entry
    per answer of a history item."""
    kms = boto3.client("kms")
    ciphers: dict[str, SubjectCipher] = {}
    opened = []
    for item in aws.scan("ProfileTable"):
        owner = item.get("subject_id", {}).get("S")
        if item.get("entity", {}).get("S") != entity or (subject_id and owner != subject_id):
            continue
        if owner not in ciphers:
            ciphers[owner] = subject_cipher(aws.dynamodb, kms, aws.table("KeyVaultTable"), owner)
        if entity == event_item.ENTITY:
            opened.append({**item, **event_item.metadata(item, ciphers[owner])})
        else:  # one per answer: a touchpoint's answers share an item
            for key, record, reference in consent_item.changes(item, ciphers[owner]):
                answer = {"key": key, "granted": record.granted, "at": record.collected_at.isoformat()}
                opened.append({**item, **answer, "source": record.source, "reference": reference})
    return opened


def linked_tokens(index_items: list[dict[str, Any]], subject_id: str) -> set[str]:
    """The tokens a subject holds: the LINK# items in its partition of the identity index (the profile keeps none)."""
    return {
        i["sk"]["S"].removeprefix("LINK#")
        for i in index_items
        if i["pk"]["S"] == f"SUBJECT#{subject_id}" and i["sk"]["S"].startswith("LINK#")
    }


_NORMALIZED = {"email": normalize.email, "phone": normalize.phone, "whatsapp": normalize.phone, "rfc": normalize.rfc}


def subject_of(dynamodb: Any, index_table: str, tokenizer: Tokenizer, kind: str, value: str) -> str | None:
    """The subject an identifier finds in the identity index: public channels' answers do not say."""
    token = tokenizer.token(IdentifierKind(kind), _NORMALIZED.get(kind, normalize.opaque_id)(value))
    item = dynamodb.get_item(TableName=index_table, Key=keys.token_key(token), ConsistentRead=True).get("Item")
    return item["subject_id"]["S"] if item and "subject_id" in item else None


def vouched(body: dict[str, Any], channel: str, tokenizer: Tokenizer, **identifiers: str) -> dict[str, Any]:
    """`body` with the channel's back end vouching for these identifiers (kind=value), proof signed as it would."""
    key = tokenizer.vouching_key(channel)
    verified = [
        {"kind": kind, "proof": vouch_proof(key, channel, body["event_id"], kind, _NORMALIZED.get(kind, str)(value))}
        for kind, value in identifiers.items()
    ]
    return {**body, "verified": [*body.get("verified", []), *verified]}


def legacy_history(subject_id: str, cipher: SubjectCipher, event_id: str, at: str) -> list[dict[str, Any]]:
    """A store purchase and its marketing consent answer in the clear shape written before issue 17 (event metadata
    and consent history in plaintext attributes), as tables written by earlier versions still hold them."""
    partition = {"pk": {"S": f"SUBJECT#{subject_id}"}, "subject_id": {"S": subject_id}}
    plain = {"channel": "store", "event_id": event_id, "trace": "transactional", "action": "purchase"}
    return [
        {
            **partition,
            "sk": {"S": f"EVENT#store#{event_id}"},
            "entity": {"S": "event"},
            **{name: {"S": value} for name, value in plain.items()},
            "received_at": {"S": at},
            "occurred_at": {"S": at},
            "minimized": {"BOOL": False},
            "expires_at": {"N": "1900000000"},
            "details": {"B": cipher.encrypt(trace_details_field("store", event_id), json.dumps({"total": "10.00"}))},
        },
        {
            **partition,
            "sk": {"S": f"CONSENT#marketing:store#{at}"},
            "entity": {"S": "consent"},
            "consent": {
                "M": {
                    "granted": {"BOOL": True},
                    "at": {"S": at},
                    "source": {"S": "store"},
                    "policy_version": {"S": "2026-11-01"},
                }
            },
            "event_id": {"S": event_id},
        },
    ]
