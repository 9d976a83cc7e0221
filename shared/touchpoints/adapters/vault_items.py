"""The key vault as the branch key rotation pages through it (touchpoints.privacy.rotation): a parallel scan for the
items not under the target version, conditional re-wraps, and a count per version."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, ResumableStoreCalls, error_code
from touchpoints.items import vault as vault_item
from touchpoints.privacy.branch_keys import LEGACY_KMS
from touchpoints.privacy.rotation import VaultEntry, VaultPage


class DynamoVaultItems(ResumableStoreCalls):
    resumes: ClassVar[str] = "the rotation resumes from its cursors (`keys branch-keys start`)"

    def __init__(self, dynamodb_client: Any, key_vault_table: str) -> None:
        self._db = dynamodb_client
        self._vault = key_vault_table

    def estimated_items(self) -> int:
        """DynamoDB's item count (refreshed about every six hours): what a progress bar needs."""
        table = self._call("key vault describe", self._db.describe_table, TableName=self._vault)["Table"]
        return int(table.get("ItemCount", 0))

    def page(self, segment: int, segments: int, after: str | None, target: str, limit: int) -> VaultPage:
        kwargs: dict[str, Any] = {
            "TableName": self._vault,
            "Segment": segment,
            "TotalSegments": segments,
            "Limit": limit,
            # Read from the scan, written back only if unchanged: a stale read costs a skipped item, never a wrong one.
            "FilterExpression": "attribute_not_exists(#v) OR #v <> :target",
            "ProjectionExpression": "#pk, #w, #v",
            "ExpressionAttributeNames": {
                "#pk": vault_item.PK,
                "#w": vault_item.WRAPPED_KEY,
                "#v": vault_item.BRANCH_VERSION,
            },
            "ExpressionAttributeValues": {":target": {"S": target}},
        }
        if after:
            kwargs["ExclusiveStartKey"] = {vault_item.PK: {"S": after}}
        answer = self._call("key vault scan", self._db.scan, **kwargs)
        entries = tuple(
            VaultEntry(keys.subject_id_of(i[vault_item.PK]["S"]), bytes(i[vault_item.WRAPPED_KEY]["B"]))
            for i in answer.get("Items", [])
        )
        last = answer.get("LastEvaluatedKey")
        return VaultPage(entries, int(answer.get("ScannedCount", 0)), last[vault_item.PK]["S"] if last else None)

    def rewrap(self, subject_id: str, old: bytes, new: bytes, now: datetime) -> bool:
        attributes = vault_item.wrapped_key_attributes(new)
        try:
            self._db.update_item(
                TableName=self._vault,
                Key=keys.vault_key(subject_id),
                # `wrapped_key = :old` fails on an item erased meanwhile: an erasure is never undone.
                ConditionExpression="#w = :old",
                UpdateExpression="SET #w = :new, #v = :version, #at = :at",
                ExpressionAttributeNames={
                    "#w": vault_item.WRAPPED_KEY,
                    "#v": vault_item.BRANCH_VERSION,
                    "#at": vault_item.REWRAPPED_AT,
                },
                ExpressionAttributeValues={
                    ":old": {"B": old},
                    ":new": attributes[vault_item.WRAPPED_KEY],
                    ":version": attributes[vault_item.BRANCH_VERSION],
                    ":at": {"S": now.isoformat()},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise self._unavailable("key vault re-wrap", error) from error
        except SDK_ERRORS as error:
            raise self._unavailable("key vault re-wrap", error) from error
        return True

    def count_by_version(self, segments: int) -> dict[str, int]:
        with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="vault-count") as pool:
            counts = list(pool.map(lambda segment: self._count_segment(segment, segments), range(segments)))
        return dict(sum(counts, Counter()))

    def _count_segment(self, segment: int, segments: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        kwargs: dict[str, Any] = {
            "TableName": self._vault,
            "Segment": segment,
            "TotalSegments": segments,
            "ProjectionExpression": "#v",
            "ExpressionAttributeNames": {"#v": vault_item.BRANCH_VERSION},
        }
        while True:
            answer = self._call("key vault count", self._db.scan, **kwargs)
            counts.update(i.get(vault_item.BRANCH_VERSION, {}).get("S", LEGACY_KMS) for i in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return counts
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
