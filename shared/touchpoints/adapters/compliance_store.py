"""Compliance requests and the audit trail in DynamoDB, and the erasure queue in SQS.

Both tables hold ids, tokens, times and counts, never a personal value, so they may keep
point-in-time backups without undoing an erasure.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.compliance.model import AuditEntry, ComplianceRequest, ErasureStep, RequestKind, RequestState
from touchpoints.compliance.policy import Regulation
from touchpoints.errors import StorageUnavailable
from touchpoints.observability import logger

REQUEST_SK = "REQUEST"


def request_pk(request_id: str) -> str:
    return f"REQUEST#{request_id}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _unavailable(what: str, error: Exception) -> StorageUnavailable:
    logger.warning(f"{what} failed", extra={"error_code": error_code(error)})
    return StorageUnavailable("the compliance store is unavailable; retry")


class DynamoRequestStore:
    def __init__(self, dynamodb_client: Any, table: str) -> None:
        self._db = dynamodb_client
        self._table = table

    def create(self, request: ComplianceRequest) -> None:
        try:
            self._db.put_item(
                TableName=self._table, Item=self._item(request), ConditionExpression="attribute_not_exists(pk)"
            )
        except SDK_ERRORS as error:
            raise _unavailable("compliance request write", error) from error

    def save(self, request: ComplianceRequest) -> bool:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=self._item(request),
                ConditionExpression="revision = :previous",
                ExpressionAttributeValues={":previous": _n(request.revision - 1)},
            )
        except SDK_ERRORS as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise _unavailable("compliance request write", error) from error
        return True

    def get(self, request_id: str) -> ComplianceRequest | None:
        try:
            item = self._db.get_item(
                TableName=self._table, Key={"pk": _s(request_pk(request_id)), "sk": _s(REQUEST_SK)}, ConsistentRead=True
            ).get("Item")
        except SDK_ERRORS as error:
            raise _unavailable("compliance request read", error) from error
        return None if item is None else self._request(item)

    def _item(self, request: ComplianceRequest) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": _s(request_pk(request.request_id)),
            "sk": _s(REQUEST_SK),
            "entity": _s("request"),
            "request_id": _s(request.request_id),
            "kind": _s(request.kind.value),
            "regulation": _s(request.regulation.value),
            "case_reference": _s(request.case_reference),
            "requested_by": _s(request.requested_by),
            "received_at": _s(request.received_at.isoformat()),
            "deadline": _s(request.deadline.isoformat()),
            "state": _s(request.state.value),
            "updated_at": _s(request.updated_at.isoformat()),
            "suppress": {"BOOL": request.suppress},
            "counts": {"M": {k: _n(v) for k, v in request.counts.items()}},
            "revision": _n(request.revision),
        }
        if request.tokens:
            item["tokens"] = {"L": [_s(t) for t in request.tokens]}
        optional = {
            "subject_id": request.subject_id,
            "step": request.step.value if request.step else None,
            "completed_at": request.completed_at.isoformat() if request.completed_at else None,
            "failure": request.failure,
        }
        item.update({k: _s(v) for k, v in optional.items() if v is not None})
        return item

    def _request(self, item: dict[str, Any]) -> ComplianceRequest:
        def text(name: str) -> str | None:
            return item[name]["S"] if name in item else None

        completed = text("completed_at")
        step = text("step")
        return ComplianceRequest(
            request_id=item["request_id"]["S"],
            kind=RequestKind(item["kind"]["S"]),
            regulation=Regulation(item["regulation"]["S"]),
            case_reference=item["case_reference"]["S"],
            requested_by=item["requested_by"]["S"],
            received_at=datetime.fromisoformat(item["received_at"]["S"]),
            deadline=date.fromisoformat(item["deadline"]["S"]),
            state=RequestState(item["state"]["S"]),
            updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
            subject_id=text("subject_id"),
            tokens=tuple(t["S"] for t in item.get("tokens", {}).get("L", [])),
            suppress=item["suppress"]["BOOL"],
            step=ErasureStep(step) if step else None,
            counts={k: int(v["N"]) for k, v in item.get("counts", {}).get("M", {}).items()},
            completed_at=datetime.fromisoformat(completed) if completed else None,
            failure=text("failure"),
            revision=int(item["revision"]["N"]),
        )


class DynamoAuditLog:
    """Append-only: one item per action, under the request it belongs to, in time order."""

    def __init__(self, dynamodb_client: Any, table: str) -> None:
        self._db = dynamodb_client
        self._table = table

    def record(self, entry: AuditEntry) -> None:
        item: dict[str, Any] = {
            "pk": _s(request_pk(entry.request_id)),
            "sk": _s(f"{entry.at.isoformat()}#{uuid.uuid4().hex[:8]}"),
            "request_id": _s(entry.request_id),
            "action": _s(entry.action),
            "actor": _s(entry.actor),
            "at": _s(entry.at.isoformat()),
            "kind": _s(entry.kind.value),
            "regulation": _s(entry.regulation.value),
            "outcome": _s(entry.outcome),
            "counts": {"M": {k: _n(v) for k, v in entry.counts.items()}},
        }
        if entry.subject_id:
            item["subject_id"] = _s(entry.subject_id)
        if entry.tokens:
            item["tokens"] = {"L": [_s(t) for t in entry.tokens]}
        try:
            self._db.put_item(TableName=self._table, Item=item)
        except SDK_ERRORS as error:
            raise _unavailable("audit write", error) from error


class SqsErasureQueue:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, request_id: str) -> None:
        try:
            self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"request_id": request_id}))
        except SDK_ERRORS as error:
            logger.warning("erasure enqueue failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the erasure queue is unavailable; retry the request") from error
