"""The branch key table as the operator's rotation writes it (touchpoints.privacy.rotation): versions made, activated
and retired, and the rotation record; the hourly check reads the record's heartbeat."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.adapters.branch_keys import DynamoBranchKeys
from touchpoints.errors import EncryptionUnavailable, StorageUnavailable
from touchpoints.items import branch_key as item
from touchpoints.privacy.rotation import RotationRecord, RotationRefused


class BranchKeyAdmin(DynamoBranchKeys):
    """The operator's side: versions made, activated and retired, and the rotation record
    (touchpoints.privacy.rotation). Every write is conditional: two operators, or a crashed job and its resumption,
    never undo each other."""

    def create_version(self, version: str, now: datetime) -> None:
        """A new version, not yet active: its key made by KMS, stored encrypted."""
        try:
            made = self._kms.generate_data_key_without_plaintext(
                KeyId=self._kms_key_id, KeySpec="AES_256", EncryptionContext=item.encryption_context(version)
            )
        except SDK_ERRORS as error:
            raise EncryptionUnavailable(f"KMS did not make the branch key ({error_code(error)})") from error
        record = item.version_item(version, bytes(made["CiphertextBlob"]), now)
        self._call(
            "branch key version",
            self._db.put_item,
            TableName=self._table,
            Item=record,
            ConditionExpression=f"attribute_not_exists({item.PK})",
        )

    def activate(self, version: str, previous: str | None) -> None:
        """`version` wraps new data keys from now on (each container within its cache TTL), if the active version is
        still `previous` (None: none yet) and `version` exists."""
        stored = self._get(item.version_sk(version))
        if stored is None:
            raise RotationRefused(f"no branch key version {version}")
        active = item.active_item(version, bytes(stored[item.ENC]["B"]))
        condition: dict[str, Any] = (
            {"ConditionExpression": f"attribute_not_exists({item.PK})"}
            if previous is None
            else {
                "ConditionExpression": "#v = :previous",
                "ExpressionAttributeNames": {"#v": item.VERSION},
                "ExpressionAttributeValues": {":previous": {"S": previous}},
            }
        )
        self._call("active branch key", self._db.put_item, TableName=self._table, Item=active, **condition)

    def versions(self) -> list[str]:
        """Every version stored, the active one included."""
        found: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": item.PK, "#sk": item.SK},
            "ExpressionAttributeValues": {
                ":pk": {"S": item.BRANCH_KEY_ID},
                ":prefix": {"S": item.VERSION_SK_PREFIX},
            },
            "ProjectionExpression": "#sk",
            "ConsistentRead": True,
        }
        while True:
            page = self._call("branch key versions read", self._db.query, **kwargs)
            found += [i[item.SK]["S"].removeprefix(item.VERSION_SK_PREFIX) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def active_version(self) -> str | None:
        found = self._get(item.ACTIVE_SK)
        return None if found is None else str(found[item.VERSION]["S"])

    def retire(self, version: str) -> None:
        """Delete a version, unless it is the active one (checked in the same transaction)."""
        self._call(
            "branch key retirement",
            self._db.transact_write_items,
            TransactItems=[
                {"Delete": {"TableName": self._table, "Key": item.key(item.version_sk(version))}},
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": item.key(item.ACTIVE_SK),
                        "ConditionExpression": "#v <> :retired",
                        "ExpressionAttributeNames": {"#v": item.VERSION},
                        "ExpressionAttributeValues": {":retired": {"S": version}},
                    }
                },
            ],
        )

    def rotation(self) -> RotationRecord | None:
        return self._call("rotation read", rotation_record, dynamodb_client=self._db, table=self._table)

    def save_rotation(self, record: RotationRecord, *, runner: str | None) -> None:
        """Stored if the stored record is still held by `runner` (None: no rotation open), else RotationRefused."""
        condition: dict[str, Any] = (
            {
                "ConditionExpression": f"attribute_not_exists({item.PK}) OR #state = :finished",
                "ExpressionAttributeNames": {"#state": item.STATE},
                "ExpressionAttributeValues": {":finished": {"S": item.FINISHED}},
            }
            if runner is None
            else {
                "ConditionExpression": "#runner = :runner",
                "ExpressionAttributeNames": {"#runner": item.RUNNER},
                "ExpressionAttributeValues": {":runner": {"S": runner}},
            }
        )
        self._call("rotation record", self._db.put_item, TableName=self._table, Item=_attributes(record), **condition)

    def _call(self, what: str, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except ClientError as error:
            if error_code(error) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise RotationRefused(
                    f"the {what} changed meanwhile (another operator or job?); read progress"
                ) from None
            raise StorageUnavailable(f"the branch key table did not answer ({error_code(error)})") from error
        except SDK_ERRORS as error:
            raise StorageUnavailable(f"the branch key table did not answer ({error_code(error)})") from error


def rotation_record(dynamodb_client: Any, table: str) -> RotationRecord | None:
    """The current (or last) rotation's record, for the operator and the hourly check."""
    found = dynamodb_client.get_item(TableName=table, Key=item.key(item.ROTATION_SK), ConsistentRead=True).get("Item")
    return None if found is None else _record(found)


def _attributes(record: RotationRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        **item.key(item.ROTATION_SK),
        item.STATE: {"S": record.state},
        item.TARGET: {"S": record.target},
        item.STARTED_AT: {"S": record.started_at.isoformat()},
        item.SETTLED_AT: {"S": record.settled_at.isoformat()},
        item.ESTIMATED_ITEMS: {"N": str(record.estimated_items)},
        item.SEGMENTS: {"M": {str(n): {"S": cursor} for n, cursor in record.segments.items()}},
        item.COUNTS: {"M": {name: {"N": str(n)} for name, n in record.counts.items()}},
        item.HEARTBEAT_AT: {"S": record.heartbeat_at.isoformat()},
        item.RUNNER: {"S": record.runner},
        item.RETIRED: {"S": json.dumps(list(record.retired))},
    }
    if record.finished_at:
        attributes[item.FINISHED_AT] = {"S": record.finished_at.isoformat()}
    return attributes


def _record(found: Mapping[str, Any]) -> RotationRecord:
    return RotationRecord(
        state=found[item.STATE]["S"],
        target=found[item.TARGET]["S"],
        started_at=datetime.fromisoformat(found[item.STARTED_AT]["S"]),
        settled_at=datetime.fromisoformat(found[item.SETTLED_AT]["S"]),
        estimated_items=int(found[item.ESTIMATED_ITEMS]["N"]),
        segments={int(n): v["S"] for n, v in found[item.SEGMENTS]["M"].items()},
        counts={name: int(v["N"]) for name, v in found[item.COUNTS]["M"].items()},
        heartbeat_at=datetime.fromisoformat(found[item.HEARTBEAT_AT]["S"]),
        runner=found[item.RUNNER]["S"],
        retired=tuple(json.loads(found[item.RETIRED]["S"])),
        finished_at=datetime.fromisoformat(found[item.FINISHED_AT]["S"]) if item.FINISHED_AT in found else None,
    )
