"""Compliance requests and the audit trail in DynamoDB, and the erasure queue in SQS.

Both tables hold ids, tokens, times and counts, never a personal value, so they may keep
point-in-time backups without undoing an erasure.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.compliance.model import (
    AuditEntry,
    ComplianceRequest,
    ErasureStep,
    RequestKind,
    RequestState,
    StepRecord,
)
from touchpoints.compliance.policy import Regulation
from touchpoints.compliance.queue import QueuedRequest, queue_position
from touchpoints.errors import StorageUnavailable
from touchpoints.items import audit as audit_item
from touchpoints.items import request as request_item
from touchpoints.observability import logger

REQUEST_SK = request_item.SK_VALUE


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
                TableName=self._table,
                Item=self._item(request),
                ConditionExpression=f"attribute_not_exists({request_item.PK})",
            )
        except SDK_ERRORS as error:
            raise _unavailable("compliance request write", error) from error

    def save(self, request: ComplianceRequest) -> bool:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=self._item(request),
                ConditionExpression=f"{request_item.REVISION} = :previous",
                ExpressionAttributeValues={":previous": _n(request.revision - 1)},
            )
        except SDK_ERRORS as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise _unavailable("compliance request write", error) from error
        return True

    def get(self, request_id: str) -> ComplianceRequest | None:
        try:
            key = {request_item.PK: _s(request_pk(request_id)), request_item.SK: _s(REQUEST_SK)}
            item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        except SDK_ERRORS as error:
            raise _unavailable("compliance request read", error) from error
        return None if item is None else self._request(item)

    def _item(self, request: ComplianceRequest) -> dict[str, Any]:
        r = request_item
        item: dict[str, Any] = {
            r.PK: _s(request_pk(request.request_id)),
            r.SK: _s(REQUEST_SK),
            r.ENTITY_ATTR: _s(r.ENTITY),
            r.REQUEST_ID: _s(request.request_id),
            r.KIND: _s(request.kind.value),
            r.REGULATION: _s(request.regulation.value),
            r.CASE_REFERENCE: _s(request.case_reference),
            r.REQUESTED_BY: _s(request.requested_by),
            r.RECEIVED_AT: _s(request.received_at.isoformat()),
            r.DEADLINE: _s(request.deadline.isoformat()),
            r.STATE: _s(request.state.value),
            r.UPDATED_AT: _s(request.updated_at.isoformat()),
            r.SUPPRESS: {"BOOL": request.suppress},
            r.COUNTS: {"M": {k: _n(v) for k, v in request.counts.items()}},
            r.REVISION: _n(request.revision),
            r.QUEUE_STATE: _s(request.state.value),
            r.QUEUE_DUE: _s(queue_position(request.deadline, request.received_at, request.request_id)),
        }
        if request.tokens:
            item[r.TOKENS] = {"L": [_s(t) for t in request.tokens]}
        if request.steps:
            item[r.STEPS] = {
                "L": [
                    {
                        "M": {
                            r.RECORD_STEP: _s(s.step.value),
                            r.RECORD_AT: _s(s.at.isoformat()),
                            r.RECORD_COUNTS: {"M": {k: _n(v) for k, v in s.counts.items()}},
                        }
                    }
                    for s in request.steps
                ]
            }
        optional = {
            r.SUBJECT_ID: request.subject_id,
            r.STEP: request.step.value if request.step else None,
            r.COMPLETED_AT: request.completed_at.isoformat() if request.completed_at else None,
            r.FAILURE: request.failure,
        }
        item.update({k: _s(v) for k, v in optional.items() if v is not None})
        return item

    def due(
        self, state: RequestState, regulation: Regulation | None, after: str | None, limit: int
    ) -> Sequence[QueuedRequest]:
        r = request_item
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": r.DEADLINE_INDEX,
            "KeyConditionExpression": "#qs = :state",
            "ExpressionAttributeNames": {"#qs": r.QUEUE_STATE},
            "ExpressionAttributeValues": {":state": _s(state.value)},
            "Limit": limit,
        }
        if after:
            query["KeyConditionExpression"] += " AND #qd > :after"
            query["ExpressionAttributeNames"]["#qd"] = r.QUEUE_DUE
            query["ExpressionAttributeValues"][":after"] = _s(after)
        if regulation is not None:
            query["FilterExpression"] = "#reg = :reg"
            query["ExpressionAttributeNames"]["#reg"] = r.REGULATION
            query["ExpressionAttributeValues"][":reg"] = _s(regulation.value)
        found: list[QueuedRequest] = []
        while len(found) < limit:
            try:
                page = self._db.query(**query)
            except SDK_ERRORS as error:
                raise _unavailable("request queue read", error) from error
            found.extend(
                QueuedRequest(
                    request_id=i[r.REQUEST_ID]["S"],
                    kind=RequestKind(i[r.KIND]["S"]),
                    regulation=Regulation(i[r.REGULATION]["S"]),
                    case_reference=i[r.CASE_REFERENCE]["S"],
                    state=state,
                    received_at=datetime.fromisoformat(i[r.RECEIVED_AT]["S"]),
                    deadline=date.fromisoformat(i[r.DEADLINE]["S"]),
                )
                for i in page.get("Items", [])
            )
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def _request(self, item: dict[str, Any]) -> ComplianceRequest:
        def text(name: str) -> str | None:
            return item[name]["S"] if name in item else None

        r = request_item
        completed = text(r.COMPLETED_AT)
        step = text(r.STEP)
        return ComplianceRequest(
            request_id=item[r.REQUEST_ID]["S"],
            kind=RequestKind(item[r.KIND]["S"]),
            regulation=Regulation(item[r.REGULATION]["S"]),
            case_reference=item[r.CASE_REFERENCE]["S"],
            requested_by=item[r.REQUESTED_BY]["S"],
            received_at=datetime.fromisoformat(item[r.RECEIVED_AT]["S"]),
            deadline=date.fromisoformat(item[r.DEADLINE]["S"]),
            state=RequestState(item[r.STATE]["S"]),
            updated_at=datetime.fromisoformat(item[r.UPDATED_AT]["S"]),
            subject_id=text(r.SUBJECT_ID),
            tokens=tuple(t["S"] for t in item.get(r.TOKENS, {}).get("L", [])),
            suppress=item[r.SUPPRESS]["BOOL"],
            step=ErasureStep(step) if step else None,
            counts={k: int(v["N"]) for k, v in item.get(r.COUNTS, {}).get("M", {}).items()},
            completed_at=datetime.fromisoformat(completed) if completed else None,
            failure=text(r.FAILURE),
            revision=int(item[r.REVISION]["N"]),
            steps=tuple(
                StepRecord(
                    ErasureStep(s["M"][r.RECORD_STEP]["S"]),
                    datetime.fromisoformat(s["M"][r.RECORD_AT]["S"]),
                    {k: int(v["N"]) for k, v in s["M"][r.RECORD_COUNTS]["M"].items()},
                )
                for s in item.get(r.STEPS, {}).get("L", [])
            ),
        )


class DynamoAuditLog:
    """Append-only: one item per action, under the request it belongs to, in time order."""

    def __init__(self, dynamodb_client: Any, table: str) -> None:
        self._db = dynamodb_client
        self._table = table

    def record(self, entry: AuditEntry) -> None:
        a = audit_item
        item: dict[str, Any] = {
            a.PK: _s(request_pk(entry.request_id)),
            a.SK: _s(f"{entry.at.isoformat()}#{uuid.uuid4().hex[:8]}"),
            a.REQUEST_ID: _s(entry.request_id),
            a.ACTION: _s(entry.action),
            a.ACTOR: _s(entry.actor),
            a.AT: _s(entry.at.isoformat()),
            a.KIND: _s(entry.kind.value),
            a.REGULATION: _s(entry.regulation.value),
            a.OUTCOME: _s(entry.outcome),
            a.COUNTS: {"M": {k: _n(v) for k, v in entry.counts.items()}},
        }
        if entry.subject_id:
            item[a.SUBJECT_ID] = _s(entry.subject_id)
        if entry.tokens:
            item[a.TOKENS] = {"L": [_s(t) for t in entry.tokens]}
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
