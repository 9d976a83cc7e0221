"""The audiences' items (items/audience.py): the classifier's memberships, the report's pages of AudienceIndex and
the pulled counts.

A person's memberships are one partition (AUDIENCE#<subject id>, at most max_recommendations items): `sync` reads it
(one Query) and puts or deletes only what differs, so a replayed classification writes nothing twice. A page reads
each shard of the program's index key once, in parallel (`members`): its cost follows the page, not the audience.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.classification.audience import AudienceQuery, Membership, Positions
from touchpoints.errors import StorageUnavailable
from touchpoints.items import audience as audience_item
from touchpoints.observability import logger

PulledCounts = dict[tuple[str, str], int]  # (program, campaign id) -> ids pulled


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def shard_of(subject_id: str) -> int:
    """The person's shard of every program's index key: a hash of the id, as the classifier's other indexes."""
    return int.from_bytes(hashlib.sha256(subject_id.encode()).digest()[:4], "big") % audience_item.SHARDS


class DynamoAudienceStore:
    def __init__(self, dynamodb_client: Any, profile_table: str, counter_table: str, concurrency: int = 8) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._counters = counter_table
        self._concurrency = concurrency

    # ------------------------------------------------------------------------------------------- the classifier
    def sync(self, subject_id: str, membership: Membership) -> None:
        held = self.held(subject_id)
        for program, reach in sorted(membership.items()):
            if reach and held.get(program) != reach:
                self._call(
                    "audience membership write failed",
                    self._db.put_item,
                    TableName=self._profiles,
                    Item={
                        audience_item.PK: _s(audience_item.membership_pk(subject_id)),
                        audience_item.SK: _s(program),
                        audience_item.ENTITY_ATTR: _s(audience_item.ENTITY_MEMBERSHIP),
                        audience_item.SUBJECT_ID: _s(subject_id),
                        audience_item.AUDIENCE_KEY: _s(audience_item.audience_key(program, shard_of(subject_id))),
                        audience_item.REACH: {"SS": sorted(reach)},
                    },
                )
        for program in sorted(held.keys() - {p for p, reach in membership.items() if reach}):
            self._call(
                "audience membership delete failed",
                self._db.delete_item,
                TableName=self._profiles,
                Key=self._key(subject_id, program),
            )

    def held(self, subject_id: str) -> dict[str, frozenset[str]]:
        """The person's memberships as stored: program -> reach."""
        answer = self._call(
            "audience membership read failed",
            self._db.query,
            TableName=self._profiles,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": audience_item.PK},
            ExpressionAttributeValues={":pk": _s(audience_item.membership_pk(subject_id))},
            ConsistentRead=True,
        )
        return {
            item[audience_item.SK]["S"]: frozenset(item.get(audience_item.REACH, {}).get("SS", []))
            for item in answer.get("Items", [])
        }

    @staticmethod
    def _key(subject_id: str, program: str) -> dict[str, Any]:
        return {audience_item.PK: _s(audience_item.membership_pk(subject_id)), audience_item.SK: _s(program)}

    # ------------------------------------------------------------------------------------------- the report
    def members(self, query: AudienceQuery, positions: Positions, per_shard: int) -> tuple[list[str], Positions]:
        def shard(number: int) -> tuple[list[str], str | None]:
            position = positions[number]
            if position is None:
                return [], None
            request: dict[str, Any] = {
                "TableName": self._profiles,
                "IndexName": audience_item.INDEX,
                "KeyConditionExpression": "#key = :key",
                "FilterExpression": "contains(#reach, :reach)",
                "ExpressionAttributeNames": {"#key": audience_item.AUDIENCE_KEY, "#reach": audience_item.REACH},
                "ExpressionAttributeValues": {
                    ":key": _s(audience_item.audience_key(query.program, number)),
                    ":reach": _s(query.reach),
                },
                "Limit": per_shard,
            }
            if position:
                request["ExclusiveStartKey"] = {
                    audience_item.AUDIENCE_KEY: _s(audience_item.audience_key(query.program, number)),
                    audience_item.SUBJECT_ID: _s(position),
                    **self._key(position, query.program),
                }
            page = self._call("audience page read failed", self._db.query, **request)
            ids = [item[audience_item.SUBJECT_ID]["S"] for item in page.get("Items", [])]
            last = page.get("LastEvaluatedKey")
            return ids, (last[audience_item.SUBJECT_ID]["S"] if last else None)

        with ThreadPoolExecutor(max_workers=min(self._concurrency, audience_item.SHARDS)) as pool:
            answers = list(pool.map(shard, range(audience_item.SHARDS)))
        return [i for ids, _ in answers for i in ids], tuple(after for _, after in answers)

    def record_pull(self, day: date, program: str, campaign_id: str, profiles: int) -> None:
        self._call(
            "audience pull count failed",
            self._db.update_item,
            TableName=self._counters,
            Key={
                audience_item.PK: _s(audience_item.PULLS_PK),
                audience_item.SK: _s(audience_item.pulls_sk(day.isoformat(), program, campaign_id)),
            },
            UpdateExpression="SET #e = :e ADD #n :n",
            ExpressionAttributeNames={"#e": audience_item.ENTITY_ATTR, "#n": audience_item.PROFILES},
            ExpressionAttributeValues={":e": _s(audience_item.ENTITY_PULLS), ":n": {"N": str(profiles)}},
        )

    def pulled(self, from_day: date, to_day: date) -> PulledCounts:
        """Ids pulled per (program, campaign id) between these days (inclusive): one partition, read once."""
        total: PulledCounts = {}
        for item in self._pages(
            {
                "TableName": self._counters,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :from AND :to",
                "ExpressionAttributeNames": {"#pk": audience_item.PK, "#sk": audience_item.SK},
                "ExpressionAttributeValues": {
                    ":pk": _s(audience_item.PULLS_PK),
                    ":from": _s(from_day.isoformat()),
                    ":to": _s(to_day.isoformat() + audience_item.DAY_END),
                },
            }
        ):
            parsed = audience_item.parse_pulls_sk(item[audience_item.SK]["S"])
            if parsed is not None:
                key = (parsed[1], parsed[2])
                total[key] = total.get(key, 0) + int(item.get(audience_item.PROFILES, {}).get("N", "0"))
        return total

    def _pages(self, query: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        while True:
            page = self._call("audience pulls read failed", self._db.query, **query)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _call(failure: str, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except SDK_ERRORS as error:
            logger.warning(failure, extra={"error_code": error_code(error)})
            raise StorageUnavailable("the audience store is unavailable; try again") from error
