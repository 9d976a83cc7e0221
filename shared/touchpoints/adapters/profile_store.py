"""The profile table, identity index and key vault in DynamoDB: identity resolution and the atomic profile write."""

from __future__ import annotations

import hashlib
import pickle
import random
import time
from collections import Counter
from collections.abc import Collection
from datetime import datetime
from typing import Any, NoReturn

from botocore.exceptions import ClientError, HTTPClientError

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, THROTTLING_CODES, error_code
from touchpoints.errors import DuplicateTouchpoint, ProfileTooLarge, StaleSubject, StorageUnavailable
from touchpoints.identity.resolution import IdentityDecision, IdentityOutcome
from touchpoints.identity.subject import SubjectSnapshot, TokenRecord
from touchpoints.ingestion import EncryptedField, ProfileWrite, SealedItem, TraceRecord
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.items import identity_log as log_item
from touchpoints.items import link as link_item
from touchpoints.items import profile as profile_item
from touchpoints.items import token as token_item
from touchpoints.items import vault as vault_item
from touchpoints.items.profile import consent_attribute, consent_from_attribute, epoch_us
from touchpoints.observability import count_dependency_throttle, logger
from touchpoints.privacy.tokenizer import token_kind

_BATCH_GET_LIMIT = 100
_BATCH_GET_ROUNDS = 5
_MAX_TOMBSTONES_FOLLOWED = 8
_UNPROCESSED_BACKOFF_SECONDS = 0.05
_TOKEN_LENGTH = 32  # hex digits of the request digest; DynamoDB takes a ClientRequestToken of up to 36 characters
_LOST_ANSWER_REPLAYS = 1
# A replay is one more SDK call, whose worst case (aws.SDK_CONFIG: 3 attempts, 24 s) must still fit the API
# functions' 28 s: only a failure that came back within 3 s is asked again.
_REPLAY_WITHIN_SECONDS = 3.0
_REPLAY_PAUSE_SECONDS = 0.1
# The answer that leaves a transaction's outcome unknown, besides a timeout or a dropped connection: botocore's
# attempts under the token ended while the first was still being applied. (A 500 that botocore's three attempts
# all met is an outage: replaying would double the load on it.)
_UNKNOWN_OUTCOME_CODES = frozenset({"TransactionInProgressException"})


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _iso(value: datetime) -> str:
    return value.isoformat()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _action_of(change: ProfileWrite) -> str:
    """What the touchpoint did, as the migration funnel credits it (a channel's action names, never a value)."""
    if change.trace is not None:
        return change.trace.action
    return "consent_update" if change.consents else "data_update"


def _attribution(change: ProfileWrite) -> dict[str, Any]:
    """The program and campaign the touchpoint belongs to, as the profile remembers them (none: neither)."""
    attributes = {}
    if change.program:
        attributes[profile_item.LAST_PROGRAM] = _s(change.program)
        if change.campaign_id:
            attributes[profile_item.LAST_CAMPAIGN] = _s(change.campaign_id)
    return attributes


def _attribution_update(
    change: ProfileWrite, names: dict[str, str], values: dict[str, Any], sets: list[str]
) -> list[str]:
    """The sets of the touchpoint's program and campaign, and what to remove: the profile remembers the last
    touchpoint's, like its channel, so a later touchpoint that names none is not credited to an earlier one's."""
    attribution = _attribution(change)
    unset = []
    for name, attribute in (("#lpg", profile_item.LAST_PROGRAM), ("#lcp", profile_item.LAST_CAMPAIGN)):
        names[name] = attribute
        if attribute in attribution:
            values[f":{name[1:]}"] = attribution[attribute]
            sets.append(f"{name} = :{name[1:]}")
        else:
            unset.append(name)
    return unset


def _field_attribute(value: EncryptedField) -> dict[str, Any]:
    return profile_item.field_attribute(value.ciphertext, value.confirmed_at, value.channel)


def _verified_fields(change: ProfileWrite) -> dict[str, Any]:
    """The profile's verified-fields set gaining this change's verified values (nothing if it has none)."""
    names = sorted(name for name, value in change.fields.items() if value.verified)
    return {profile_item.VERIFIED_FIELDS: {"SS": names}} if names else {}


def token_claim(
    index_table: str, subject_id: str, token: str, now: datetime, **extra: dict[str, Any]
) -> list[dict[str, Any]]:
    """A token given to a subject, in the identity index: its lookup item (only if nobody holds it) and its link."""
    kind = _s(token_kind(token))
    lookup = {
        **keys.token_key(token),
        token_item.ENTITY_ATTR: _s(token_item.ENTITY_HELD),
        token_item.SUBJECT_ID: _s(subject_id),
        token_item.CREATED_AT: _s(_iso(now)),
    }
    link = {
        **keys.link_key(subject_id, token),
        link_item.ENTITY_ATTR: _s(link_item.ENTITY),
        link_item.KIND: kind,
        link_item.CREATED_AT: _s(_iso(now)),
    }
    return [
        {
            "Put": {
                "TableName": index_table,
                "Item": {**lookup, **extra},
                "ConditionExpression": f"attribute_not_exists({token_item.PK})",
            }
        },
        {"Put": {"TableName": index_table, "Item": link}},
    ]


def merge_id(absorbed: str) -> str:
    """A profile is absorbed at most once (it stays a tombstone), so its id names its merge."""
    return f"merge-{absorbed}"


def identity_log_key(kind: str, at: datetime, log_id: str) -> dict[str, dict[str, str]]:
    return {
        log_item.PK: _s(log_item.partition(at.date().isoformat(), log_id)),
        log_item.SK: _s(f"{kind}#{_iso(at)}#{log_id}"),
    }


def survivor_of(db: Any, table: str, subject_id: str) -> str | None:
    """The active profile a subject leads to, following merge tombstones; None when the trail ends elsewhere.

    Read with BatchGetItem, which every function that resolves a person may already call.
    """
    for _ in range(_MAX_TOMBSTONES_FOLLOWED):
        request = {
            table: {
                "Keys": [keys.profile_key(subject_id)],
                "ConsistentRead": True,
                "ProjectionExpression": "#st, #mi",
                "ExpressionAttributeNames": {"#st": profile_item.STATUS, "#mi": profile_item.MERGED_INTO},
            }
        }
        try:
            answer = db.batch_get_item(RequestItems=request)
        except SDK_ERRORS as error:
            logger.warning("profile read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; nothing was changed") from error
        if answer.get("UnprocessedKeys"):
            raise StorageUnavailable("the profile store is throttling reads; nothing was changed")
        found = answer.get("Responses", {}).get(table, [])
        if not found:
            return None
        item = found[0]
        if item.get(profile_item.STATUS, {}).get("S") == profile_item.ACTIVE:
            return subject_id
        if profile_item.MERGED_INTO not in item:
            return None
        subject_id = item[profile_item.MERGED_INTO]["S"]
    return None


def subject_tokens(db: Any, index_table: str, subject_id: str) -> tuple[str, ...]:
    """Every token the subject holds, from its links in the identity index (pages of them, however many)."""
    query: dict[str, Any] = {
        "TableName": index_table,
        "KeyConditionExpression": f"{link_item.PK} = :pk AND begins_with({link_item.SK}, :link)",
        "ExpressionAttributeValues": {":pk": _s(keys.subject_pk(subject_id)), ":link": _s(keys.LINK_PREFIX)},
        "ProjectionExpression": link_item.SK,
        "ConsistentRead": True,
    }
    tokens: list[str] = []
    while True:
        try:
            page = db.query(**query)
        except SDK_ERRORS as error:
            logger.warning("subject tokens read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; nothing was changed") from error
        tokens.extend(item[link_item.SK]["S"].removeprefix(keys.LINK_PREFIX) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return tuple(tokens)
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def consent_history_item(subject_id: str, sealed: SealedItem) -> dict[str, Any]:
    return {
        consent_item.PK: _s(keys.subject_pk(subject_id)),
        consent_item.SK: _s(sealed.sort_key),
        consent_item.ENTITY_ATTR: _s(consent_item.ENTITY),
        consent_item.SUBJECT_ID: _s(subject_id),
        consent_item.SEALED: {"B": sealed.ciphertext},
    }


def request_token(change: ProfileWrite, items: list[dict[str, Any]]) -> str:
    """The ClientRequestToken of a touchpoint's transaction: a digest of whose, which event, and every parameter sent.

    DynamoDB answers a TransactWriteItems repeated under the same token with identical parameters, within 10 minutes
    of the first, with success and without applying it again; the same token with other parameters is refused
    (IdempotentParameterMismatchException). So a token names exactly one request, and only that request is ever
    sent under it: botocore's own retries and the replay in `_transact` send it again as it was, and a commit whose
    answer was lost is answered `stored`. A token derived from the event alone would be reused by requests that
    differ: the pipeline's retry after a cancelled transaction (a fresh read, other conditions, a new clock, new
    nonces: nothing was committed under the first) and a channel's resend would each meet a mismatch, and a
    resend would then need telling from a lost answer. Here both are new requests under new tokens: the retry is
    applied, and the resend finds the event item and is answered `duplicate`, as before.
    """
    digest = hashlib.sha256(f"{change.subject_id}\0{change.channel}\0{change.event_id}\0".encode())
    # The parameters as pickle writes them (~20 us a touchpoint; canonical JSON costs ~90): equal bytes are equal
    # parameters, so a token never names two different requests, and the request replayed is the same object.
    digest.update(pickle.dumps(items, protocol=5))
    return digest.hexdigest()[:_TOKEN_LENGTH]


def _outcome_unknown(error: Exception) -> bool:
    """The request may have reached DynamoDB and committed, but its answer was lost."""
    if isinstance(error, HTTPClientError):  # sent: a read timeout, a connection dropped before the answer
        return True
    return isinstance(error, ClientError) and error_code(error) in _UNKNOWN_OUTCOME_CODES


def _raise_write_failure(error: Exception) -> NoReturn:
    code = error_code(error)
    if code == "ValidationException" and "item size" in str(error).lower():
        logger.warning("profile write over the item size limit", extra={"error_code": code})
        raise ProfileTooLarge("the profile cannot take this change; retrying will not help") from None
    if code == "TransactionCanceledException" and isinstance(error, ClientError):
        reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]  # type: ignore[attr-defined]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise DuplicateTouchpoint from None
        if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons):
            raise StaleSubject from None
        if any(r in THROTTLING_CODES or r == "ThrottlingError" for r in reasons):
            code = "ThrottlingError"
            count_dependency_throttle("dynamodb")  # a cancelled transaction never reaches the SDK's retries
    logger.warning("profile write failed", extra={"error_code": code})
    raise StorageUnavailable("the profile store is unavailable; nothing was stored") from error


class DynamoProfileStore:
    def __init__(self, dynamodb_client: Any, profile_table: str, key_vault_table: str, identity_index: str) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._vault = key_vault_table
        self._index = identity_index

    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]:
        unique = list(dict.fromkeys(tokens))
        found: dict[str, TokenRecord] = {}
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            request = {
                self._index: {
                    "Keys": [keys.token_key(t) for t in unique[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                    "ProjectionExpression": f"{token_item.PK}, {token_item.SUBJECT_ID}, {token_item.SUPPRESSED}",
                }
            }
            for item in self._batch_get(request).get(self._index, []):
                token = item[token_item.PK]["S"].removeprefix("TOKEN#")
                found[token] = TokenRecord(
                    subject_id=item.get(token_item.SUBJECT_ID, {}).get("S"),
                    suppressed=item.get(token_item.SUPPRESSED, {}).get("BOOL", False),
                )
        return found

    def load_subject(self, subject_id: str) -> SubjectSnapshot | None:
        request = {
            self._profiles: {
                "Keys": [keys.profile_key(subject_id)],
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(
                    ["#st", "#c", "#cv", "#vf", "#lt", *profile_item.LINK_COUNTERS.values()]
                ),
                "ExpressionAttributeNames": {
                    "#st": profile_item.STATUS,
                    "#c": profile_item.CONSENTS,
                    "#cv": profile_item.CONSENT_VERSION,
                    "#vf": profile_item.VERIFIED_FIELDS,
                    "#lt": profile_item.LAST_TRACE_AT,
                },
            },
            self._vault: {"Keys": [keys.vault_key(subject_id)], "ConsistentRead": True},
        }
        answer = self._batch_get(request)
        profiles, vault = answer.get(self._profiles, []), answer.get(self._vault, [])
        if not profiles or not vault or profiles[0].get(profile_item.STATUS, {}).get("S") != profile_item.ACTIVE:
            return None
        profile = profiles[0]
        consents = profile.get(profile_item.CONSENTS, {}).get("M", {})
        return SubjectSnapshot(
            subject_id=subject_id,
            consents={k: consent_from_attribute(v) for k, v in consents.items()},
            consent_version=int(profile.get(profile_item.CONSENT_VERSION, {}).get("N", "0")),
            wrapped_key=bytes(vault[0][vault_item.WRAPPED_KEY]["B"]),
            link_counts={
                kind: int(profile[name]["N"]) for kind, name in profile_item.LINK_COUNTERS.items() if name in profile
            },
            verified_fields=frozenset(profile.get(profile_item.VERIFIED_FIELDS, {}).get("SS", ())),
            last_trace_at=_time(profile.get(profile_item.LAST_TRACE_AT, {}).get("S")),
        )

    def write(self, change: ProfileWrite) -> None:
        items = [self._event_put(change)]
        items.append(self._profile_create(change) if change.new_subject_key else self._profile_update(change))
        for token in change.claim_tokens:
            items.extend(token_claim(self._index, change.subject_id, token, change.written_at))
        for token in change.claim_guards:  # a secret rotation's other version: nobody may hold it (no split)
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self._index,
                        "Key": keys.token_key(token),
                        "ConditionExpression": f"attribute_not_exists({token_item.PK})",
                    }
                }
            )
        items.extend(self._consent_history(change))
        if change.identity is not None:
            items.extend(self._identity_items(change, change.identity))
        if change.new_subject_key:
            items.append(self._vault_put(change.subject_id, change.new_subject_key, change.written_at))
        self._transact(items, request_token(change, items))

    def survivor_of(self, subject_id: str) -> str | None:
        return survivor_of(self._db, self._profiles, subject_id)

    def has_event(self, subject_id: str, sort_key: str) -> bool:
        key = {event_item.PK: _s(keys.subject_pk(subject_id)), event_item.SK: _s(sort_key)}
        try:
            answer = self._db.get_item(
                TableName=self._profiles,
                Key=key,
                ProjectionExpression="#pk",
                ExpressionAttributeNames={"#pk": event_item.PK},
            )
        except SDK_ERRORS as error:
            logger.warning("event read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable") from error
        return "Item" in answer

    def _identity_items(self, change: ProfileWrite, decision: IdentityDecision) -> list[dict[str, Any]]:
        """Each absorbed profile claimed for the merge (only if still active), and a log line per merge or conflict."""
        items: list[dict[str, Any]] = []
        now = change.written_at
        for absorbed in decision.absorbed:
            items.append(
                {
                    "Update": {
                        "TableName": self._profiles,
                        "Key": keys.profile_key(absorbed),
                        "UpdateExpression": "SET #st = :merging, #mi = :survivor, #mid = :mid, #ms = :first, "
                        "#mc = :none, #ma = :now, #u = :now, #cb = :writer ADD #ver :one",
                        "ConditionExpression": f"attribute_exists({profile_item.PK}) AND #st = :active",
                        "ExpressionAttributeNames": {
                            "#st": profile_item.STATUS,
                            "#mi": profile_item.MERGED_INTO,
                            "#mid": profile_item.MERGE_ID,
                            "#ms": profile_item.MERGE_STEP,
                            "#mc": profile_item.MERGE_COUNTS,
                            "#ma": profile_item.MERGED_AT,
                            "#u": profile_item.UPDATED_AT,
                            "#cb": profile_item.CHANGED_BY,
                            "#ver": profile_item.VERSION,
                        },
                        "ExpressionAttributeValues": {
                            ":merging": _s(profile_item.MERGING),
                            ":active": _s(profile_item.ACTIVE),
                            ":survivor": _s(change.subject_id),
                            ":mid": _s(merge_id(absorbed)),
                            ":first": _s("move"),
                            ":none": {"M": {}},
                            ":now": _s(_iso(now)),
                            ":writer": _s(profile_item.WRITER_INGEST),
                            ":one": _n(1),
                        },
                    }
                }
            )
            items.append(self._log_put(change, decision, log_item.MERGE, merge_id(absorbed), (absorbed,)))
        if decision.outcome is IdentityOutcome.CONFLICT:
            log_id = f"{change.channel}:{change.event_id}"
            items.append(self._log_put(change, decision, log_item.CONFLICT, log_id, decision.apart))
        return items

    def _log_put(
        self, change: ProfileWrite, decision: IdentityDecision, kind: str, log_id: str, subjects: tuple[str, ...]
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            **identity_log_key(kind, change.written_at, log_id),
            log_item.ENTITY_ATTR: _s(log_item.ENTITY),
            log_item.KIND: _s(kind),
            log_item.LOG_ID: _s(log_id),
            log_item.AT: _s(_iso(change.written_at)),
            log_item.CHANNEL: _s(change.channel),
            log_item.EVENT_ID: _s(change.event_id),
            log_item.SURVIVOR: _s(change.subject_id),
            log_item.SUBJECTS: {"L": [_s(s) for s in subjects]},
            log_item.KINDS: {"L": [_s(k) for k in decision.linking_kinds]},
            log_item.CONFLICTING_KINDS: {"L": [_s(k) for k in decision.conflicting_kinds]},
            log_item.RULE: _s(decision.rule),
            log_item.POLICY_VERSION: _s(decision.policy_version),
        }
        if kind == log_item.MERGE:
            item[log_item.STATE] = _s(log_item.CLAIMED)
        return {"Put": {"TableName": self._profiles, "Item": item}}

    def _transact(self, items: list[dict[str, Any]], token: str) -> None:
        """One TransactWriteItems under `token` (see request_token).

        botocore's own attempts already go under this token. When the answer is still lost after them (a dropped
        connection or a timeout they could not retry, their retry quota spent under load; a transaction still in
        progress), the write may have committed: the identical request is sent once more under the same token, and
        DynamoDB answers a committed one with success without applying it again, so the touchpoint is `stored`,
        not `duplicate`. Only when that failure came back quickly (_REPLAY_WITHIN_SECONDS): later, there is no time
        left for another call, and the channel is told to retry (503); its resend is then `duplicate`.
        """
        started = time.monotonic()
        for replay in range(_LOST_ANSWER_REPLAYS + 1):
            try:
                self._db.transact_write_items(TransactItems=items, ClientRequestToken=token)
                return
            except SDK_ERRORS as error:
                if (
                    replay < _LOST_ANSWER_REPLAYS
                    and _outcome_unknown(error)
                    and time.monotonic() - started < _REPLAY_WITHIN_SECONDS
                ):
                    logger.info("profile write answer lost; asking again", extra={"error_code": error_code(error)})
                    time.sleep(random.random() * _REPLAY_PAUSE_SECONDS)  # noqa: S311
                    continue
                _raise_write_failure(error)

    def batch_get(self, request: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """BatchGetItem until every key is answered, backing off while DynamoDB leaves keys unprocessed."""
        return self._batch_get(request)

    def _batch_get(self, request: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        pending = request
        for attempt in range(_BATCH_GET_ROUNDS):
            if attempt:
                # UnprocessedKeys means DynamoDB is shedding load: back off (full jitter) before asking again.
                time.sleep(random.random() * _UNPROCESSED_BACKOFF_SECONDS * 2**attempt)  # noqa: S311
            try:
                answer = self._db.batch_get_item(RequestItems=pending)
            except SDK_ERRORS as error:
                logger.warning("profile read failed", extra={"error_code": error_code(error)})
                raise StorageUnavailable("the profile store is unavailable; nothing was stored") from error
            for table, items in answer.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return found
        raise StorageUnavailable("the profile store kept throttling reads; nothing was stored")

    def _event_put(self, change: ProfileWrite) -> dict[str, Any]:
        """Listed first: its condition failing means this channel event id is already stored."""
        item: dict[str, Any] = {
            event_item.PK: _s(keys.subject_pk(change.subject_id)),
            event_item.SK: _s(change.event.sort_key),
            event_item.ENTITY_ATTR: _s(event_item.ENTITY),
            event_item.SUBJECT_ID: _s(change.subject_id),
            event_item.SEALED: {"B": change.event.ciphertext},
        }
        trace: TraceRecord | None = change.trace
        if trace is not None:
            item[event_item.EXPIRES_AT] = _n(trace.expires_at)
            if trace.details is not None:
                item[event_item.DETAILS] = {"B": trace.details}
        condition = f"attribute_not_exists({event_item.PK})"
        return {"Put": {"TableName": self._profiles, "Item": item, "ConditionExpression": condition}}

    def _profile_create(self, change: ProfileWrite) -> dict[str, Any]:
        now = _s(_iso(change.written_at))
        trace = change.trace
        item: dict[str, Any] = {
            **keys.profile_key(change.subject_id),
            profile_item.ENTITY_ATTR: _s(profile_item.ENTITY),
            profile_item.SUBJECT_ID: _s(change.subject_id),
            profile_item.STATUS: _s(profile_item.ACTIVE),
            profile_item.CREATED_AT: now,
            profile_item.UPDATED_AT: now,
            profile_item.ORIGIN_CHANNEL: _s(change.channel),
            profile_item.CHANNELS: {"SS": [change.channel]},
            profile_item.FIELDS: {"M": {name: _field_attribute(v) for name, v in change.fields.items()}},
            **_verified_fields(change),
            profile_item.CONSENTS: {"M": {k: consent_attribute(v) for k, v in change.consents.items()}},
            profile_item.CONSENT_VERSION: _n(1 if change.consents else 0),
            profile_item.VERSION: _n(1),
            profile_item.CHANGED_BY: _s(profile_item.WRITER_INGEST),
            profile_item.LAST_CHANNEL: _s(change.channel),
            profile_item.LAST_ACTION: _s(_action_of(change)),
            **_attribution(change),
        }
        for kind, counter in profile_item.TRACE_COUNTERS.items():
            item[counter] = _n(1 if trace and trace.kind is kind else 0)
        if trace is not None:
            item[profile_item.LAST_TRACE_AT] = _s(_iso(trace.occurred_at))
        for identifier_kind, count in Counter(token_kind(t) for t in change.claim_tokens).items():
            item[profile_item.LINK_COUNTERS[identifier_kind]] = _n(count)
        condition = f"attribute_not_exists({profile_item.PK})"
        return {"Put": {"TableName": self._profiles, "Item": item, "ConditionExpression": condition}}

    def _profile_update(self, change: ProfileWrite) -> dict[str, Any]:
        names = {
            "#st": profile_item.STATUS,
            "#u": profile_item.UPDATED_AT,
            "#cb": profile_item.CHANGED_BY,
            "#ver": profile_item.VERSION,
            "#chs": profile_item.CHANNELS,
            "#cv": profile_item.CONSENT_VERSION,
            "#lch": profile_item.LAST_CHANNEL,
            "#lac": profile_item.LAST_ACTION,
        }
        values: dict[str, Any] = {
            ":active": _s(profile_item.ACTIVE),
            ":now": _s(_iso(change.written_at)),
            ":writer": _s(profile_item.WRITER_INGEST),
            ":lch": _s(change.channel),
            ":lac": _s(_action_of(change)),
            ":one": _n(1),
            ":ch": {"SS": [change.channel]},
            ":cv": _n(change.expected_consent_version),
        }
        sets = ["#u = :now", "#cb = :writer", "#lch = :lch", "#lac = :lac"]
        adds = ["#ver :one", "#chs :ch"]
        unset = _attribution_update(change, names, values, sets)
        if change.fields:
            names["#f"] = profile_item.FIELDS
        for i, (name, value) in enumerate(change.fields.items()):
            names[f"#f{i}"], values[f":f{i}"] = name, _field_attribute(value)
            sets.append(f"#f.#f{i} = :f{i}")
        if change.fields:
            names["#vf"] = profile_item.VERIFIED_FIELDS
        if verified := _verified_fields(change):
            values[":vf"] = verified[profile_item.VERIFIED_FIELDS]
            adds.append("#vf :vf")
        condition = f"attribute_exists({profile_item.PK}) AND #st = :active AND #cv = :cv"
        for i, name in enumerate(name for name, value in change.fields.items() if not value.verified):
            # The snapshot left verified values out; a write that verified one since makes this one retry.
            values[f":uf{i}"] = _s(name)
            condition += f" AND NOT contains(#vf, :uf{i})"
        if change.consents or change.reaffirmed_consents:
            names["#c"], names["#cat"] = profile_item.CONSENTS, profile_item.CONSENT_AT_US
        if change.consents:
            adds.append("#cv :one")
        for i, (key, record) in enumerate(change.consents.items()):
            names[f"#c{i}"], values[f":c{i}"] = key, consent_attribute(record)
            values[f":ct{i}"] = _n(epoch_us(record.collected_at))
            sets.append(f"#c.#c{i} = :c{i}")
            # An answer given again moves no consent version (below): a change must still find an older answer.
            condition += f" AND (attribute_not_exists(#c.#c{i}.#cat) OR #c.#c{i}.#cat < :ct{i})"
        for i, (key, record) in enumerate(change.reaffirmed_consents.items()):
            # The latest evidence of an unchanged answer: only over the same answer, and only if older than this one
            # (a stale snapshot's answer never goes back in time). Neither changes what may be stored or done, so
            # the consent version stays, and the snapshots other containers hold stay good.
            names["#cg"], names[f"#r{i}"], values[f":r{i}"] = (
                profile_item.CONSENT_GRANTED,
                key,
                consent_attribute(record),
            )
            values[f":rg{i}"], values[f":rt{i}"] = {"BOOL": record.granted}, _n(epoch_us(record.collected_at))
            sets.append(f"#c.#r{i} = :r{i}")
            condition += f" AND #c.#r{i}.#cg = :rg{i} AND #c.#r{i}.#cat < :rt{i}"
        for i, (kind, count) in enumerate(Counter(token_kind(t) for t in change.claim_tokens).items()):
            names[f"#l{i}"], values[f":l{i}"], values[f":room{i}"] = (
                profile_item.LINK_COUNTERS[kind],
                _n(count),
                _n(change.link_limits.get(kind, count) - count),
            )
            adds.append(f"#l{i} :l{i}")
            condition += f" AND (attribute_not_exists(#l{i}) OR #l{i} <= :room{i})"
        if change.trace is not None:
            names["#tc"] = profile_item.TRACE_COUNTERS[change.trace.kind]
            adds.append("#tc :one")
            if change.advance_last_trace:
                # "The later of the two", which no update expression can say (there is no max()): the pipeline
                # asks to move it only when its snapshot holds an earlier time, and this condition holds that
                # knowledge true. A touchpoint no later than the snapshot's time neither sets nor conditions on it
                # (the stored time only moves forward, so it is later still): an out-of-order touchpoint is one
                # transaction, and only a concurrent writer that moved the time past this one cancels it (StaleSubject:
                # the fresh read then finds the later time and writes without touching it).
                names["#lt"], values[":lt"] = profile_item.LAST_TRACE_AT, _s(_iso(change.trace.occurred_at))
                sets.append("#lt = :lt")
                condition += " AND (attribute_not_exists(#lt) OR #lt <= :lt)"
        return {
            "Update": {
                "TableName": self._profiles,
                "Key": keys.profile_key(change.subject_id),
                "UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)}"
                + (f" REMOVE {', '.join(unset)}" if unset else ""),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _consent_history(self, change: ProfileWrite) -> list[dict[str, Any]]:
        return [
            {"Put": {"TableName": self._profiles, "Item": consent_history_item(change.subject_id, sealed)}}
            for sealed in change.consent_history
        ]

    def _vault_put(self, subject_id: str, wrapped_key: bytes, now: datetime) -> dict[str, Any]:
        item = {
            **keys.vault_key(subject_id),
            **vault_item.wrapped_key_attributes(wrapped_key),
            vault_item.CREATED_AT: _s(_iso(now)),
        }
        condition = f"attribute_not_exists({vault_item.PK})"
        return {"Put": {"TableName": self._vault, "Item": item, "ConditionExpression": condition}}
