"""The merge worker's side of the profile table, identity index and key vault: pages moved between partitions."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, ResumableStoreCalls, error_code
from touchpoints.adapters.contact_store import counter_key, counter_put, history_from_item
from touchpoints.adapters.erasure_store import DynamoSubjectEraser
from touchpoints.adapters.profile_store import identity_log_key, merge_id, subject_tokens, survivor_of
from touchpoints.errors import StorageUnavailable
from touchpoints.identity.merge import (
    ItemKind,
    MergeState,
    MergeStep,
    MovedItem,
    PartitionItem,
    ProfileMerge,
    ProfileValues,
    StoredValue,
)
from touchpoints.items import consent as consent_item
from touchpoints.items import contact as contact_item
from touchpoints.items import event as event_item
from touchpoints.items import identity_log as log_item
from touchpoints.items import link as link_item
from touchpoints.items import profile as profile_item
from touchpoints.items import token as token_item
from touchpoints.items import vault as vault_item
from touchpoints.items.profile import consent_attribute, consent_from_attribute

_CONFLICT_ROUNDS = 6
# What a tombstone keeps: where it went and how the merge went. Everything else of the profile goes.
_TOMBSTONE_KEEPS = frozenset(
    {
        profile_item.PK,
        profile_item.SK,
        profile_item.ENTITY_ATTR,
        profile_item.SUBJECT_ID,
        profile_item.STATUS,
        profile_item.CREATED_AT,
        profile_item.UPDATED_AT,
        profile_item.CHANGED_BY,
        profile_item.VERSION,
        profile_item.MERGED_INTO,
        profile_item.MERGE_ID,
        profile_item.MERGE_STEP,
        profile_item.MERGE_COUNTS,
        profile_item.MERGED_AT,
    }
)
# The survivor's counters the moved items add to (events by trace kind, links by identifier kind).
_COUNTERS = frozenset({*profile_item.TRACE_COUNTERS.values(), *profile_item.LINK_COUNTERS.values()})
_TRACE_COUNTER_OF = {kind.value: counter for kind, counter in profile_item.TRACE_COUNTERS.items()}  # by trace kind


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


class DynamoMergeStore(ResumableStoreCalls):
    resumes = "the merge will resume"

    def __init__(
        self,
        dynamodb_client: Any,
        profile_table: str,
        key_vault_table: str,
        identity_index: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._vault = key_vault_table
        self._index = identity_index
        self._sleep = sleep
        self._eraser = DynamoSubjectEraser(dynamodb_client, profile_table, key_vault_table, identity_index, sleep=sleep)

    def state(self, absorbed: str) -> MergeState | None:
        item = self._get(self._profiles, keys.profile_key(absorbed))
        if item is None or profile_item.MERGE_STEP not in item or profile_item.MERGED_INTO not in item:
            return None
        return MergeState(
            absorbed=absorbed,
            survivor=item[profile_item.MERGED_INTO]["S"],
            step=MergeStep(item[profile_item.MERGE_STEP]["S"]),
            merged_at=datetime.fromisoformat(item[profile_item.MERGED_AT]["S"]),
            counts={k: int(v["N"]) for k, v in item.get(profile_item.MERGE_COUNTS, {}).get("M", {}).items()},
        )

    def survivor_of(self, subject_id: str) -> str | None:
        return survivor_of(self._db, self._profiles, subject_id)

    def retarget(self, absorbed: str, survivor: str) -> None:
        self._call(
            "merge retarget",
            self._db.update_item,
            TableName=self._profiles,
            Key=keys.profile_key(absorbed),
            UpdateExpression="SET #mi = :s",
            ExpressionAttributeNames={"#mi": profile_item.MERGED_INTO},
            ExpressionAttributeValues={":s": _s(survivor)},
        )

    def wrapped_key(self, subject_id: str) -> bytes | None:
        item = self._get(self._vault, keys.vault_key(subject_id))
        return None if item is None else bytes(item[vault_item.WRAPPED_KEY]["B"])

    def page(self, absorbed: str, size: int) -> list[PartitionItem]:
        """The absorbed subject's links in the index first, then the items of its partition, up to `size` in all:
        a small profile moves in one transaction (each carries a check of the survivor and the counts' update,
        priced on those two profiles)."""
        page: list[PartitionItem] = []
        for table in (self._index, self._profiles):
            answer = self._call(
                "merge page read",
                self._db.query,
                TableName=table,
                KeyConditionExpression=f"{keys.PK} = :pk",
                ExpressionAttributeValues={":pk": _s(keys.subject_pk(absorbed))},
                ConsistentRead=True,
                Limit=size - len(page),
            )
            page.extend(
                _partition_item(item) for item in answer.get("Items", []) if item[keys.SK]["S"] != keys.PROFILE_SK
            )
            if len(page) >= size:
                break
        return page

    def move(
        self, absorbed: str, survivor: str, items: Sequence[tuple[PartitionItem, MovedItem]]
    ) -> Mapping[str, int] | None:
        already = self._survivor_has(survivor, sorted({sk for _, m in items for sk in m.duplicate_sks}))
        linked = [i.sk.removeprefix(keys.LINK_PREFIX) for i, _ in items if i.kind is ItemKind.LINK]
        # A link whose token someone else holds by now (or nobody) is not moved: it would find no one.
        held = {t for t, owner in self._token_owners(linked).items() if owner in (absorbed, survivor)}
        counts: Counter[str] = Counter()
        ops: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "TableName": self._profiles,
                    "Key": keys.profile_key(survivor),
                    "ConditionExpression": "#st = :active",
                    "ExpressionAttributeNames": {"#st": profile_item.STATUS},
                    "ExpressionAttributeValues": {":active": _s(profile_item.ACTIVE)},
                }
            }
        ]
        written: set[str] = set()
        for partition_item, target in items:
            original = partition_item.item
            table = self._index if partition_item.kind is ItemKind.LINK else self._profiles
            ops.append(
                {
                    "Delete": {
                        "TableName": table,
                        "Key": {keys.PK: original[keys.PK], keys.SK: original[keys.SK]},
                        # Two deliveries of one merge never both move an item: the second finds it gone.
                        "ConditionExpression": f"attribute_exists({keys.PK})",
                    }
                }
            )
            if partition_item.kind is ItemKind.EVENT and (
                written.intersection(target.duplicate_sks) or already.intersection(target.duplicate_sks)
            ):
                counts["events_duplicate"] += 1
                continue
            if partition_item.kind is ItemKind.LINK and partition_item.sk.removeprefix(keys.LINK_PREFIX) not in held:
                counts["links_dropped"] += 1
                continue
            if partition_item.kind is ItemKind.CONTACTS:
                # Added once: the absorbed counter's delete is in this transaction, the survivor's on its revision.
                survivor_counter = self._get(self._profiles, counter_key(survivor))
                absorbed_history = history_from_item(original)
                merged = history_from_item(survivor_counter).merged_with(absorbed_history)
                ops.append({"Put": counter_put(self._profiles, survivor, merged.revision, merged, datetime.now(UTC))})
                counts["contacts_moved"] += len(absorbed_history.entries())
                continue
            if target.sk in written:  # one consent answer kept twice (before and after issue 17): one is enough
                continue
            written.add(target.sk)
            ops.append({"Put": {"TableName": table, "Item": _moved_item(partition_item, target, survivor)}})
            if partition_item.kind is ItemKind.EVENT:
                counts["events_moved"] += 1
                counter = _TRACE_COUNTER_OF.get(target.trace or "")
                if counter is not None:
                    counts[counter] += 1
            elif partition_item.kind is ItemKind.LINK:
                token = partition_item.sk.removeprefix(keys.LINK_PREFIX)
                counts["tokens_repointed"] += 1
                counts[profile_item.LINK_COUNTERS[original[link_item.KIND]["S"]]] += 1
                ops.append(
                    {
                        "Update": {
                            "TableName": self._index,
                            "Key": keys.token_key(token),
                            "UpdateExpression": f"SET {token_item.SUBJECT_ID} = :s",
                            "ConditionExpression": f"{token_item.SUBJECT_ID} IN (:a, :s)",
                            "ExpressionAttributeValues": {":a": _s(absorbed), ":s": _s(survivor)},
                        }
                    }
                )
            else:
                counts["consent_changes_moved"] += 1
        ops.append(self._count_update(absorbed, counts))
        reasons = self._transact(ops)
        if reasons and reasons[0] == "ConditionalCheckFailed":
            return None
        if reasons:
            return {}  # another delivery moved some of these first: the next page read shows what is left
        return dict(counts)

    def profiles(self, absorbed: str, survivor: str) -> tuple[ProfileValues, ProfileValues] | None:
        source = self._get(self._profiles, keys.profile_key(absorbed))
        target = self._get(self._profiles, keys.profile_key(survivor))
        if source is None or target is None or target.get(profile_item.STATUS, {}).get("S") != profile_item.ACTIVE:
            return None
        counts = {k: int(v["N"]) for k, v in source.get(profile_item.MERGE_COUNTS, {}).get("M", {}).items()}
        return _values(source, {k: n for k, n in counts.items() if k in _COUNTERS}), _values(target, {})

    def finish_profile(self, absorbed: str, survivor: str, change: ProfileMerge) -> bool | None:
        names: dict[str, str] = {
            "#st": profile_item.STATUS,
            "#ver": profile_item.VERSION,
            "#u": profile_item.UPDATED_AT,
            "#cb": profile_item.CHANGED_BY,
        }
        values: dict[str, Any] = {
            ":active": _s(profile_item.ACTIVE),
            ":v": _n(change.expected_version),
            ":one": _n(1),
            ":now": _s(change.at.isoformat()),
            ":writer": _s(profile_item.WRITER_MERGE),
        }
        sets = ["#u = :now", "#cb = :writer"]
        adds = ["#ver :one"]
        if change.fields:
            names["#f"] = profile_item.FIELDS
        for i, (name, value) in enumerate(change.fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = {
                "M": {
                    profile_item.FIELD_VALUE: {"B": value.blob},
                    profile_item.FIELD_CONFIRMED_AT: _s(value.confirmed_at),
                    profile_item.FIELD_CHANNEL: _s(value.channel),
                }
            }
            sets.append(f"#f.#f{i} = :f{i}")
        if change.consents:
            names["#c"], names["#cv"] = profile_item.CONSENTS, profile_item.CONSENT_VERSION
            adds.append("#cv :one")
        for i, (key, record) in enumerate(change.consents.items()):
            names[f"#c{i}"], values[f":c{i}"] = key, consent_attribute(record)
            sets.append(f"#c.#c{i} = :c{i}")
        if change.channels:
            names["#chs"], values[":chs"] = profile_item.CHANNELS, {"SS": list(change.channels)}
            adds.append("#chs :chs")
        if change.verified:
            names["#vf"], values[":vf"] = profile_item.VERIFIED_FIELDS, {"SS": list(change.verified)}
            adds.append("#vf :vf")
        if change.last_trace_at:
            names["#lt"], values[":lt"] = profile_item.LAST_TRACE_AT, _s(change.last_trace_at)
            sets.append("#lt = :lt")
        for i, (counter, n) in enumerate(sorted(change.counters.items())):
            if n:
                names[f"#n{i}"], values[f":n{i}"] = counter, _n(n)
                adds.append(f"#n{i} :n{i}")
        survivor_update = {
            "Update": {
                "TableName": self._profiles,
                "Key": keys.profile_key(survivor),
                "UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)}",
                "ConditionExpression": "#st = :active AND #ver = :v",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        reasons = self._transact([survivor_update, self._tombstone(absorbed)])
        if not reasons:
            return True
        if reasons[0] == "ConditionalCheckFailed" and self.survivor_of(survivor) != survivor:
            return None
        return False

    def destroy_key(self, subject_id: str) -> bool:
        return self._eraser.destroy_key(subject_id)

    def save(self, state: MergeState) -> None:
        self._call(
            "merge checkpoint",
            self._db.update_item,
            TableName=self._profiles,
            Key=keys.profile_key(state.absorbed),
            UpdateExpression="SET #ms = :step",
            ConditionExpression=f"attribute_exists({profile_item.PK})",
            ExpressionAttributeNames={"#ms": profile_item.MERGE_STEP},
            ExpressionAttributeValues={":step": _s(state.step.value)},
        )

    def log(self, state: MergeState, outcome: str, now: datetime) -> None:
        self._call(
            "identity log write",
            self._db.update_item,
            TableName=self._profiles,
            Key=identity_log_key(log_item.MERGE, state.merged_at, merge_id(state.absorbed)),
            UpdateExpression="SET #state = :state, #done = :now, #counts = :counts, #survivor = :survivor",
            ExpressionAttributeNames={
                "#state": log_item.STATE,
                "#done": log_item.COMPLETED_AT,
                "#counts": log_item.COUNTS,
                "#survivor": log_item.SURVIVOR,
            },
            ExpressionAttributeValues={
                ":state": _s(outcome),
                ":now": _s(now.isoformat()),
                ":counts": {"M": {k: _n(v) for k, v in state.counts.items()}},
                ":survivor": _s(state.survivor),
            },
        )

    def abandon(self, absorbed: str, now: datetime) -> Mapping[str, int]:
        tokens = subject_tokens(self._db, self._index, absorbed)
        suppressed = self._eraser.suppress(tokens, absorbed, merge_id(absorbed), now)
        destroyed = self._eraser.destroy_key(absorbed)
        deleted = sum(self._eraser.purge(absorbed, 25))
        return {"tokens_suppressed": suppressed, "keys_destroyed": int(destroyed), "items_deleted": deleted}

    def _tombstone(self, absorbed: str) -> dict[str, Any]:
        removed = sorted(profile_item.ATTRIBUTES - _TOMBSTONE_KEEPS)
        names = {f"#r{i}": name for i, name in enumerate(removed)}
        names_removed = list(names)
        names.update({"#st": profile_item.STATUS, "#ms": profile_item.MERGE_STEP})
        return {
            "Update": {
                "TableName": self._profiles,
                "Key": keys.profile_key(absorbed),
                "UpdateExpression": f"SET #st = :merged, #ms = :shred REMOVE {', '.join(names_removed)}",
                # MOVE: the moves are done (an empty page was read) but not saved; PROFILE: saved by earlier code
                "ConditionExpression": "#ms IN (:move, :profile)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {
                    ":merged": _s(profile_item.MERGED),
                    ":shred": _s(MergeStep.SHRED.value),
                    ":move": _s(MergeStep.MOVE.value),
                    ":profile": _s(MergeStep.PROFILE.value),
                },
            }
        }

    def _count_update(self, absorbed: str, counts: Mapping[str, int]) -> dict[str, Any]:
        """The page's counts added to the absorbed profile's merge record, atomically with the page's moves."""
        names = {"#mc": profile_item.MERGE_COUNTS, "#ms": profile_item.MERGE_STEP}
        values: dict[str, Any] = {":move": _s(MergeStep.MOVE.value), ":zero": _n(0)}
        sets = []
        for i, (name, n) in enumerate(sorted(counts.items())):
            names[f"#k{i}"], values[f":k{i}"] = name, _n(n)
            sets.append(f"#mc.#k{i} = if_not_exists(#mc.#k{i}, :zero) + :k{i}")
        update: dict[str, Any] = {
            "TableName": self._profiles,
            "Key": keys.profile_key(absorbed),
            "ConditionExpression": "#ms = :move AND attribute_exists(#mc)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if not sets:
            return {"ConditionCheck": update}
        return {"Update": {**update, "UpdateExpression": f"SET {', '.join(sets)}"}}

    def _survivor_has(self, survivor: str, sks: list[str]) -> set[str]:
        wanted = [{keys.PK: _s(keys.subject_pk(survivor)), keys.SK: _s(sk)} for sk in sks]
        items = self._batch_get(self._profiles, wanted, keys.SK)
        return {item[keys.SK]["S"] for item in items}

    def _token_owners(self, tokens: list[str]) -> dict[str, str | None]:
        projection = f"{token_item.PK}, {token_item.SUBJECT_ID}"
        items = self._batch_get(self._index, [keys.token_key(t) for t in tokens], projection)
        return {i[token_item.PK]["S"].removeprefix("TOKEN#"): i.get(token_item.SUBJECT_ID, {}).get("S") for i in items}

    def _batch_get(self, table: str, item_keys: list[dict[str, Any]], projection: str) -> list[dict[str, Any]]:
        if not item_keys:
            return []
        request = {table: {"Keys": item_keys, "ConsistentRead": True, "ProjectionExpression": projection}}
        found: list[dict[str, Any]] = []
        for _ in range(_CONFLICT_ROUNDS):
            answer = self._call("merge read", self._db.batch_get_item, RequestItems=request)
            found.extend(answer.get("Responses", {}).get(table, []))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
            self._sleep(random.random() * 0.1)  # noqa: S311
        raise StorageUnavailable("the profile table kept throttling reads; the merge will resume")

    def _transact(self, ops: list[dict[str, Any]]) -> list[str]:
        """Cancellation reasons when a condition failed; conflicts with other writers are retried here."""
        for attempt in range(_CONFLICT_ROUNDS):
            try:
                self._db.transact_write_items(TransactItems=ops)
                return []
            except SDK_ERRORS as error:
                if error_code(error) != "TransactionCanceledException":
                    raise self._unavailable("merge write", error) from error
                reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]  # type: ignore[union-attr]
                if "ConditionalCheckFailed" in reasons:
                    return reasons
                if "TransactionConflict" not in reasons and "None" not in reasons:
                    raise self._unavailable("merge write", error) from error
            self._sleep(min(0.05 * 2**attempt, 1.0) * random.random())  # noqa: S311
        raise StorageUnavailable("the survivor kept changing; the merge will resume")

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        answer = self._call("merge read", self._db.get_item, TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = answer.get("Item")
        return item


def _partition_item(item: Mapping[str, Any]) -> PartitionItem:
    sk = item[keys.SK]["S"]
    sealed = bytes(item[event_item.SEALED]["B"]) if event_item.SEALED in item else None
    if sk.startswith(event_item.SK_PREFIX):
        details = bytes(item[event_item.DETAILS]["B"]) if event_item.DETAILS in item else None
        legacy = None if sealed is not None else event_item.legacy_metadata(item)
        return PartitionItem(sk, ItemKind.EVENT, item, sealed, legacy, details)
    if sk.startswith(consent_item.SK_PREFIX):
        change = None if sealed is not None else consent_item.legacy_change(item)
        return PartitionItem(sk, ItemKind.CONSENT, item, sealed, change)
    if sk.startswith(keys.LINK_PREFIX):
        return PartitionItem(sk, ItemKind.LINK, item)
    if sk == contact_item.SK_VALUE:
        return PartitionItem(sk, ItemKind.CONTACTS, item)
    raise ValueError(f"a subject's partition holds an item of no known kind: {sk.split('#', 1)[0]}")


def _moved_item(source: PartitionItem, target: MovedItem, survivor: str) -> dict[str, Any]:
    """The item written into the survivor's partition. Event and consent items are written whole, sealed: an
    item written before issue 17 leaves its clear attributes behind."""
    if source.kind is ItemKind.LINK:
        return {**source.item, link_item.PK: _s(keys.subject_pk(survivor))}
    schema = event_item if source.kind is ItemKind.EVENT else consent_item
    item: dict[str, Any] = {
        schema.PK: _s(keys.subject_pk(survivor)),
        schema.SK: _s(target.sk),
        schema.ENTITY_ATTR: _s(schema.ENTITY),
        schema.SUBJECT_ID: _s(survivor),
        schema.SEALED: {"B": target.sealed},
    }
    if source.kind is ItemKind.EVENT:
        if event_item.EXPIRES_AT in source.item:
            item[event_item.EXPIRES_AT] = source.item[event_item.EXPIRES_AT]
        if target.details is not None:
            item[event_item.DETAILS] = {"B": target.details}
    return item


def _values(item: Mapping[str, Any], counters: Mapping[str, int]) -> ProfileValues:
    fields = {
        name: StoredValue(
            bytes(v["M"][profile_item.FIELD_VALUE]["B"]),
            v["M"][profile_item.FIELD_CONFIRMED_AT]["S"],
            v["M"][profile_item.FIELD_CHANNEL]["S"],
        )
        for name, v in item.get(profile_item.FIELDS, {}).get("M", {}).items()
    }
    return ProfileValues(
        fields=fields,
        consents={k: consent_from_attribute(v) for k, v in item.get(profile_item.CONSENTS, {}).get("M", {}).items()},
        channels=tuple(item.get(profile_item.CHANNELS, {}).get("SS", [])),
        last_trace_at=item.get(profile_item.LAST_TRACE_AT, {}).get("S"),
        version=int(item.get(profile_item.VERSION, {}).get("N", "0")),
        counters=counters,
        verified=frozenset(item.get(profile_item.VERIFIED_FIELDS, {}).get("SS", ())),
    )
