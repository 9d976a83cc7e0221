"""Contact counters in the profile table: batched reads of people, conditional writes, the reports' reads."""

from __future__ import annotations

import hashlib
import pickle
import random
import secrets
import time
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.adapters.profile_store import DynamoProfileStore
from touchpoints.consent import ConsentRecord
from touchpoints.contact.decide import ContactEntry, ContactHistory, PersonFacts, PersonStatus
from touchpoints.contact.pressure import ContactTally
from touchpoints.contact.service import RecordOutcome
from touchpoints.errors import StorageUnavailable
from touchpoints.identity.subject import TokenRecord
from touchpoints.ingestion import SealedItem
from touchpoints.items import contact as contact_item
from touchpoints.items import event as event_item
from touchpoints.items import profile as profile_item
from touchpoints.items.profile import consent_from_attribute
from touchpoints.observability import logger

_KEYS_PER_BATCH_GET = 100
_READ_CONCURRENCY = 8
_COUNT_ATTEMPTS = 5
_BACKOFF_SECONDS = 0.05
_TOKEN_LENGTH = 32  # DynamoDB takes a ClientRequestToken of up to 36 characters


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def counter_key(subject_id: str) -> dict[str, dict[str, str]]:
    return {contact_item.PK: _s(keys.subject_pk(subject_id)), contact_item.SK: _s(contact_item.SK_VALUE)}


def _entry_attribute(entry: ContactEntry) -> dict[str, Any]:
    members = {
        contact_item.ENTRY_AT: _s(entry.at.isoformat()),
        contact_item.ENTRY_CHANNEL: _s(entry.channel),
        contact_item.ENTRY_PURPOSE: _s(entry.purpose),
        contact_item.ENTRY_CAMPAIGN: _s(entry.campaign_id),
    }
    if entry.kind:
        members[contact_item.ENTRY_KIND] = _s(entry.kind)
    if entry.program:
        members[contact_item.ENTRY_PROGRAM] = _s(entry.program)
    if entry.reservation_id:
        members[contact_item.ENTRY_RESERVATION] = _s(entry.reservation_id)
    if entry.expires_at is not None:
        members[contact_item.ENTRY_EXPIRES_AT] = _s(entry.expires_at.isoformat())
    return {"M": members}


def entry_from_attribute(value: Mapping[str, Any]) -> ContactEntry:
    m = value["M"]
    expires = m.get(contact_item.ENTRY_EXPIRES_AT, {}).get("S")
    return ContactEntry(
        at=datetime.fromisoformat(m[contact_item.ENTRY_AT]["S"]),
        channel=m[contact_item.ENTRY_CHANNEL]["S"],
        purpose=m[contact_item.ENTRY_PURPOSE]["S"],
        campaign_id=m[contact_item.ENTRY_CAMPAIGN]["S"],
        kind=m.get(contact_item.ENTRY_KIND, {}).get("S", ""),
        reservation_id=m.get(contact_item.ENTRY_RESERVATION, {}).get("S", ""),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        program=m.get(contact_item.ENTRY_PROGRAM, {}).get("S", ""),
    )


def history_from_item(item: Mapping[str, Any] | None) -> ContactHistory:
    if item is None:
        return ContactHistory()
    return ContactHistory(
        revision=int(item.get(contact_item.REVISION, {}).get("N", "0")),
        sent=tuple(entry_from_attribute(v) for v in item.get(contact_item.SENT, {}).get("L", [])),
        reservations=tuple(entry_from_attribute(v) for v in item.get(contact_item.RESERVATIONS, {}).get("L", [])),
    )


def counter_put(
    table: str, subject_id: str, expected_revision: int, history: ContactHistory, now: datetime
) -> dict[str, Any]:
    """The PutItem of a person's whole counter, conditioned on the revision read (0: none yet)."""
    item: dict[str, Any] = {
        **counter_key(subject_id),
        contact_item.ENTITY_ATTR: _s(contact_item.ENTITY),
        contact_item.SUBJECT_ID: _s(subject_id),
        contact_item.REVISION: {"N": str(expected_revision + 1)},
        contact_item.SENT: {"L": [_entry_attribute(e) for e in history.sent]},
        contact_item.RESERVATIONS: {"L": [_entry_attribute(e) for e in history.reservations]},
        contact_item.UPDATED_AT: _s(now.isoformat()),
    }
    moments = [e.at for e in history.sent] + [e.expires_at for e in history.reservations if e.expires_at]
    if moments:
        # Once the newest entry is older than the history kept, nothing on the item counts: DynamoDB may drop it.
        item[contact_item.EXPIRES_AT] = {"N": str(int(max(moments).timestamp()) + 31 * 86400)}
    condition = f"attribute_not_exists({contact_item.PK})" if expected_revision == 0 else "#rev = :rev"
    put: dict[str, Any] = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if expected_revision:
        put["ExpressionAttributeNames"] = {"#rev": contact_item.REVISION}
        put["ExpressionAttributeValues"] = {":rev": {"N": str(expected_revision)}}
    return put


class DynamoContactStore:
    def __init__(self, dynamodb_client: Any, profile_table: str, profiles: DynamoProfileStore) -> None:
        self._db = dynamodb_client
        self._table = profile_table
        self._profiles = profiles

    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]:
        return self._profiles.find_tokens(tokens)

    def load_people(self, subject_ids: Collection[str], contact_fields: Collection[str]) -> dict[str, PersonFacts]:
        """Profiles (status, consents, which contact fields: never their values) and counters, 50 people a request."""
        ids = list(dict.fromkeys(subject_ids))
        names = {
            "#st": profile_item.STATUS,
            "#c": profile_item.CONSENTS,
            "#rev": contact_item.REVISION,
            "#sent": contact_item.SENT,
            "#res": contact_item.RESERVATIONS,
        }
        projection = [keys.PK, keys.SK, "#st", "#c", "#rev", "#sent", "#res"]
        if contact_fields:
            names.update({"#f": profile_item.FIELDS, "#at": profile_item.FIELD_CONFIRMED_AT})
        for i, name in enumerate(sorted(contact_fields)):
            names[f"#f{i}"] = name
            projection.append(f"#f.#f{i}.#at")
        people_per_request = _KEYS_PER_BATCH_GET // 2
        chunks = [ids[start : start + people_per_request] for start in range(0, len(ids), people_per_request)]

        def read(chunk: list[str]) -> list[dict[str, Any]]:
            request = {
                self._table: {
                    "Keys": [k for s in chunk for k in (keys.profile_key(s), counter_key(s))],
                    "ConsistentRead": True,
                    "ProjectionExpression": ", ".join(projection),
                    "ExpressionAttributeNames": names,
                }
            }
            return self._profiles.batch_get(request).get(self._table, [])

        items: list[dict[str, Any]] = []
        if len(chunks) == 1:
            items = read(chunks[0])
        elif chunks:
            with ThreadPoolExecutor(max_workers=_READ_CONCURRENCY) as pool:
                items = [item for page in pool.map(read, chunks) for item in page]
        profiles: dict[str, dict[str, Any]] = {}
        counters: dict[str, dict[str, Any]] = {}
        for item in items:
            subject = keys.subject_id_of(item[keys.PK]["S"])
            (profiles if item[keys.SK]["S"] == keys.PROFILE_SK else counters)[subject] = item
        people: dict[str, PersonFacts] = {}
        for subject in ids:
            profile = profiles.get(subject)
            if profile is None or profile.get(profile_item.STATUS, {}).get("S") != profile_item.ACTIVE:
                people[subject] = PersonFacts(PersonStatus.SUPPRESSED)
                continue
            consents: dict[str, ConsentRecord] = {
                k: consent_from_attribute(v) for k, v in profile.get(profile_item.CONSENTS, {}).get("M", {}).items()
            }
            held = frozenset(profile.get(profile_item.FIELDS, {}).get("M", {}))
            people[subject] = PersonFacts(PersonStatus.ACTIVE, consents, held, history_from_item(counters.get(subject)))
        return people

    def _counter_put(
        self, subject_id: str, expected_revision: int, history: ContactHistory, now: datetime
    ) -> dict[str, Any]:
        return counter_put(self._table, subject_id, expected_revision, history, now)

    def save_history(self, subject_id: str, expected_revision: int, history: ContactHistory, now: datetime) -> bool:
        try:
            self._db.put_item(**self._counter_put(subject_id, expected_revision, history, now))
        except SDK_ERRORS as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            logger.warning("contact counter write failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; nothing was reserved") from error
        return True

    def wrapped_key(self, subject_id: str) -> bytes | None:
        snapshot = self._profiles.load_subject(subject_id)
        return snapshot.wrapped_key if snapshot is not None else None

    def record(
        self,
        subject_id: str,
        event: SealedItem,
        expires_at: int,
        expected_revision: int,
        history: ContactHistory,
        now: datetime,
    ) -> RecordOutcome:
        item = {
            event_item.PK: _s(keys.subject_pk(subject_id)),
            event_item.SK: _s(event.sort_key),
            event_item.ENTITY_ATTR: _s(event_item.ENTITY),
            event_item.SUBJECT_ID: _s(subject_id),
            event_item.SEALED: {"B": event.ciphertext},
            event_item.EXPIRES_AT: {"N": str(expires_at)},
        }
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": f"attribute_not_exists({event_item.PK})",
                }
            },
            {"Put": self._counter_put(subject_id, expected_revision, history, now)},
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": keys.profile_key(subject_id),
                    "ConditionExpression": "#st = :active",
                    "ExpressionAttributeNames": {"#st": profile_item.STATUS},
                    "ExpressionAttributeValues": {":active": _s(profile_item.ACTIVE)},
                }
            },
        ]
        # A commit whose answer was lost and that botocore sends again is answered as it was (stored, and counted),
        # not found a duplicate of itself (see profile_store.request_token).
        token = hashlib.sha256(pickle.dumps(items, protocol=5)).hexdigest()[:_TOKEN_LENGTH]
        try:
            self._db.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except SDK_ERRORS as error:
            if error_code(error) == "TransactionCanceledException":
                reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]  # type: ignore[union-attr]
                failed = [i for i, r in enumerate(reasons) if r == "ConditionalCheckFailed"]
                if 0 in failed:
                    return RecordOutcome.DUPLICATE
                if 2 in failed:
                    return RecordOutcome.SUPPRESSED
                if failed or "TransactionConflict" in reasons:
                    return RecordOutcome.CONFLICT
            logger.warning("contact write failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; the contact was not recorded") from error
        return RecordOutcome.STORED

    def count_cap_hits(self, day: str, hits: Mapping[tuple[str, str], int]) -> None:
        for (channel, campaign), count in hits.items():
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={
                        contact_item.PK: _s(contact_item.CAPS_PK_VALUE),
                        contact_item.SK: _s(f"{day}#{channel}#{campaign}"),
                    },
                    UpdateExpression="SET #e = :e, #ch = :ch, #cp = :cp, #d = :d ADD #h :n",
                    ExpressionAttributeNames={
                        "#e": contact_item.ENTITY_ATTR,
                        "#ch": contact_item.CAP_CHANNEL,
                        "#cp": contact_item.CAP_CAMPAIGN,
                        "#d": contact_item.CAP_DAY,
                        "#h": contact_item.CAP_HITS,
                    },
                    ExpressionAttributeValues={
                        ":e": _s(contact_item.CAP_ENTITY),
                        ":ch": _s(channel),
                        ":cp": _s(campaign),
                        ":d": _s(day),
                        ":n": {"N": str(count)},
                    },
                )
            except SDK_ERRORS as error:
                # A lost count on a dashboard must not fail the decisions already reserved.
                logger.warning("cap hit count failed", extra={"error_code": error_code(error)})

    def count_contacts(self, tally: ContactTally) -> None:
        """One marked update per counter item the request moved (its pressure item, one per day, channel, program
        and campaign sent), on one shard picked for the request. Each counter item holds the request's marker while
        it is updated, so an update retried after a lost answer is refused by its condition and adds nothing."""
        token = secrets.token_hex(8)
        shard = random.randrange(contact_item.COUNTER_SHARDS)  # noqa: S311 - spreading writes, not security
        recorded = tally.today
        pressure = tally.nonzero_pressure()
        if pressure:
            key = (contact_item.pressure_pk(recorded.isoformat(), shard), contact_item.PRESSURE_SK_VALUE)
            fixed = {
                contact_item.ENTITY_ATTR: _s(contact_item.PRESSURE_ENTITY),
                contact_item.PRESSURE_DAY: _s(recorded.isoformat()),
                contact_item.EXPIRES_AT: {"N": str(_epoch(recorded, contact_item.PRESSURE_TTL_DAYS))},
            }
            cells = {
                contact_item.pressure_cell((target - recorded).days, window, n): moved
                for (target, window, n), moved in pressure.items()
            }
            self._apply_once(key, fixed, cells, token)
        for (day, channel, program, campaign), count in tally.sent.items():
            if not count:
                continue
            key = (contact_item.sent_pk(shard), contact_item.sent_sk(day.isoformat(), channel, program, campaign))
            fixed = {
                contact_item.ENTITY_ATTR: _s(contact_item.SENT_ENTITY),
                contact_item.SENT_DAY: _s(day.isoformat()),
                contact_item.SENT_CHANNEL: _s(channel),
                contact_item.SENT_CAMPAIGN: _s(campaign),
                contact_item.EXPIRES_AT: {"N": str(_epoch(day, contact_item.SENT_TTL_DAYS))},
            }
            if program:
                fixed[contact_item.SENT_PROGRAM] = _s(program)
            self._apply_once(key, fixed, {contact_item.SENT_COUNT: count}, token)

    def _apply_once(self, key: tuple[str, str], fixed: Mapping[str, Any], cells: Mapping[str, int], token: str) -> None:
        names = {"#m": contact_item.applied_marker(token)}
        values: dict[str, Any] = {":m": _s(token)}
        sets = ["#m = :m"]
        for i, (name, value) in enumerate(fixed.items()):
            names[f"#f{i}"], values[f":f{i}"] = name, value
            sets.append(f"#f{i} = :f{i}")
        adds = []
        for i, (name, moved) in enumerate(cells.items()):
            names[f"#c{i}"], values[f":c{i}"] = name, {"N": str(moved)}
            adds.append(f"#c{i} :c{i}")
        item_key = {contact_item.PK: _s(key[0]), contact_item.SK: _s(key[1])}
        update = {
            "TableName": self._table,
            "Key": item_key,
            "UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)}",
            "ConditionExpression": "attribute_not_exists(#m)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        for attempt in range(_COUNT_ATTEMPTS):
            try:
                self._db.update_item(**update)
                break
            except SDK_ERRORS as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    break  # the marker is there: an attempt whose answer was lost applied it
                logger.warning("contact count failed", extra={"error_code": error_code(error)})
                if attempt + 1 == _COUNT_ATTEMPTS:
                    # The contacts are stored: a request failed now would be retried, find duplicates and count
                    # nothing either. The report lags by these counts (logged, as a lost cap hit is).
                    logger.error("contact counts lost", extra={"error_code": error_code(error)})
                    return
                time.sleep(_BACKOFF_SECONDS * 2**attempt)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=item_key,
                UpdateExpression="REMOVE #m",
                ExpressionAttributeNames={"#m": names["#m"]},
            )
        except SDK_ERRORS as error:
            # A marker left behind is a few bytes on a counter item; its token is never used again.
            logger.warning("contact count marker left", extra={"error_code": error_code(error)})


def _epoch(day: date, days_after: int) -> int:
    return int(datetime.combine(day + timedelta(days=days_after), datetime.min.time(), tzinfo=UTC).timestamp())


class DynamoContactReports:
    """The contact reports' reads: the pressure items of the last 30 days, the cap-hit and contacts-sent counters."""

    def __init__(self, dynamodb_client: Any, profile_table: str) -> None:
        self._db = dynamodb_client
        self._table = profile_table

    def pressure_cells(self, days: list[date]) -> dict[tuple[date, int, int], int]:
        """(target day, window, contacts) -> people moved, summed over what was recorded on these days."""
        keys_wanted = [
            {
                contact_item.PK: _s(contact_item.pressure_pk(day.isoformat(), shard)),
                contact_item.SK: _s(contact_item.PRESSURE_SK_VALUE),
            }
            for day in days
            for shard in range(contact_item.COUNTER_SHARDS)
        ]
        cells: dict[tuple[date, int, int], int] = {}
        for item in self._batch_get(keys_wanted):
            recorded = date.fromisoformat(item[contact_item.PRESSURE_DAY]["S"])
            for name, value in item.items():
                if (cell := contact_item.parse_pressure_cell(name)) is None:
                    continue
                offset, window, n = cell
                key = (recorded + timedelta(days=offset), window, n)
                cells[key] = cells.get(key, 0) + int(value["N"])
        return cells

    def contacts_sent(self, from_day: date, to_day: date) -> dict[tuple[str, str | None, str], int]:
        """(program, campaign id, channel) -> contacts sent for that program on the days `from_day`..`to_day`
        (UTC days sent). Contacts that named no program are counted too, but not returned: no program to credit."""
        sent: dict[tuple[str, str | None, str], int] = {}
        for shard in range(contact_item.COUNTER_SHARDS):
            query: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :from AND :to",
                "ExpressionAttributeNames": {"#pk": contact_item.PK, "#sk": contact_item.SK},
                "ExpressionAttributeValues": {
                    ":pk": _s(contact_item.sent_pk(shard)),
                    ":from": _s(from_day.isoformat()),
                    ":to": _s(f"{to_day.isoformat()}~"),  # sorts after every <to_day>#... key
                },
            }
            for item in self._pages(query):
                program = item.get(contact_item.SENT_PROGRAM, {}).get("S")
                if program is None:
                    continue
                key = (program, item[contact_item.SENT_CAMPAIGN]["S"], item[contact_item.SENT_CHANNEL]["S"])
                sent[key] = sent.get(key, 0) + int(item[contact_item.SENT_COUNT]["N"])
        return sent

    def _batch_get(self, wanted: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for start in range(0, len(wanted), _KEYS_PER_BATCH_GET):
            request: dict[str, Any] = {self._table: {"Keys": wanted[start : start + _KEYS_PER_BATCH_GET]}}
            for attempt in range(_COUNT_ATTEMPTS * 2):
                try:
                    page = self._db.batch_get_item(RequestItems=request)
                except SDK_ERRORS as error:
                    logger.warning("contact report read failed", extra={"error_code": error_code(error)})
                    raise StorageUnavailable("the profile store is unavailable") from error
                yield from page.get("Responses", {}).get(self._table, [])
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(_BACKOFF_SECONDS * 2 ** min(attempt, 4))
            else:
                raise StorageUnavailable("the profile store kept throttling the report's reads")

    def cap_hits(self, since: date) -> dict[tuple[str, str], int]:
        """(channel, campaign) -> reserved decisions a cap refused, from `since` on."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": f"{contact_item.PK} = :pk AND {contact_item.SK} >= :since",
            "ExpressionAttributeValues": {":pk": _s(contact_item.CAPS_PK_VALUE), ":since": _s(since.isoformat())},
        }
        hits: dict[tuple[str, str], int] = {}
        for item in self._pages(query):
            key = (item[contact_item.CAP_CHANNEL]["S"], item[contact_item.CAP_CAMPAIGN]["S"])
            hits[key] = hits.get(key, 0) + int(item[contact_item.CAP_HITS]["N"])
        return hits

    def _pages(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        while True:
            try:
                page = self._db.query(**query)
            except SDK_ERRORS as error:
                logger.warning("contact report read failed", extra={"error_code": error_code(error)})
                raise StorageUnavailable("the profile store is unavailable") from error
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
