"""A subject's items as compliance reads and corrects them (export, rectification, objection)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.adapters.erasure_store import delete_tokens_where
from touchpoints.adapters.profile_store import consent_history_item, subject_tokens, token_claim
from touchpoints.compliance.model import IdentifierInUse
from touchpoints.compliance.records import (
    Rectification,
    StoredConsentChange,
    StoredEvent,
    StoredField,
    StoredProfile,
    StoredSubject,
    Withdrawal,
)
from touchpoints.errors import StaleSubject, StorageUnavailable
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.items import profile as profile_item
from touchpoints.items import token as token_item
from touchpoints.items import vault as vault_item
from touchpoints.items.profile import consent_attribute, consent_from_attribute
from touchpoints.observability import logger
from touchpoints.privacy.tokenizer import token_kind

ACTIVE = profile_item.ACTIVE
WRITER = profile_item.WRITER_COMPLIANCE


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _text(item: dict[str, Any], name: str) -> str | None:
    return item[name]["S"] if name in item else None


def _profile(item: dict[str, Any], tokens: tuple[str, ...]) -> StoredProfile:
    fields = {
        name: StoredField(
            bytes(v["M"][profile_item.FIELD_VALUE]["B"]),
            v["M"][profile_item.FIELD_CONFIRMED_AT]["S"],
            v["M"][profile_item.FIELD_CHANNEL]["S"],
        )
        for name, v in item.get(profile_item.FIELDS, {}).get("M", {}).items()
    }
    consents = item.get(profile_item.CONSENTS, {}).get("M", {})
    return StoredProfile(
        subject_id=item[profile_item.SUBJECT_ID]["S"],
        status=item[profile_item.STATUS]["S"],
        created_at=item[profile_item.CREATED_AT]["S"],
        updated_at=item[profile_item.UPDATED_AT]["S"],
        origin_channel=_text(item, profile_item.ORIGIN_CHANNEL),
        channels=tuple(item.get(profile_item.CHANNELS, {}).get("SS", [])),
        tokens=tokens,
        fields=fields,
        consents={k: consent_from_attribute(v) for k, v in consents.items()},
        consent_version=int(item.get(profile_item.CONSENT_VERSION, {}).get("N", "0")),
        version=int(item.get(profile_item.VERSION, {}).get("N", "0")),
        traces=profile_item.trace_counts(item),
        last_trace_at=_text(item, profile_item.LAST_TRACE_AT),
    )


def _event(item: dict[str, Any]) -> StoredEvent:
    expires = item.get(event_item.EXPIRES_AT, {}).get("N")
    sealed = item.get(event_item.SEALED, {}).get("B")
    return StoredEvent(
        sort_key=item[event_item.SK]["S"],
        sealed=bytes(sealed) if sealed is not None else None,
        legacy=None if sealed is not None else event_item.legacy_metadata(item),
        details=bytes(item[event_item.DETAILS]["B"]) if event_item.DETAILS in item else None,
        expires_at=int(expires) if expires else None,
    )


def _consent_change(item: dict[str, Any]) -> StoredConsentChange:
    sealed = item.get(consent_item.SEALED, {}).get("B")
    return StoredConsentChange(
        sort_key=item[consent_item.SK]["S"],
        sealed=bytes(sealed) if sealed is not None else None,
        legacy=None if sealed is not None else consent_item.legacy_change(item),
    )


class DynamoSubjectRecords:
    def __init__(self, dynamodb_client: Any, profile_table: str, key_vault_table: str, identity_index: str) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._vault = key_vault_table
        self._index = identity_index

    def load_profile(self, subject_id: str) -> tuple[StoredProfile, bytes] | None:
        profile = self._get(self._profiles, keys.profile_key(subject_id))
        vault = self._get(self._vault, keys.vault_key(subject_id))
        if profile is None or vault is None:
            return None
        tokens = subject_tokens(self._db, self._index, subject_id)
        return _profile(profile, tokens), bytes(vault[vault_item.WRAPPED_KEY]["B"])

    def load_subject(self, subject_id: str) -> StoredSubject | None:
        vault = self._get(self._vault, keys.vault_key(subject_id))
        if vault is None:
            return None
        profile_item, events, history = None, [], []
        query: dict[str, Any] = {
            "TableName": self._profiles,
            "KeyConditionExpression": f"{keys.PK} = :pk",
            "ExpressionAttributeValues": {":pk": _s(keys.subject_pk(subject_id))},
            "ConsistentRead": True,
        }
        while True:
            page = self._call("subject read", self._db.query, **query)
            for item in page.get("Items", []):
                sk = item[keys.SK]["S"]
                if sk == keys.PROFILE_SK:
                    profile_item = item
                elif sk.startswith(event_item.SK_PREFIX):
                    events.append(_event(item))
                elif sk.startswith(consent_item.SK_PREFIX):
                    history.append(_consent_change(item))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if profile_item is None:
            return None
        profile = _profile(profile_item, subject_tokens(self._db, self._index, subject_id))
        return StoredSubject(profile, bytes(vault[vault_item.WRAPPED_KEY]["B"]), tuple(events), tuple(history))

    def lift_suppression(self, tokens: Collection[str]) -> int:
        """Markers deleted from the backed-up suppression list, then from the index, which ingestion reads: a
        failure in between leaves the identifier suppressed until the lift is retried."""
        suppressed = f"{token_item.SUPPRESSED} = :yes", {":yes": {"BOOL": True}}
        try:
            delete_tokens_where(self._db, self._profiles, tokens, *suppressed)
            return delete_tokens_where(self._db, self._index, tokens, *suppressed)
        except SDK_ERRORS as error:
            logger.warning("suppression lift failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; lift the suppression again") from error

    def rectify(self, change: Rectification) -> None:
        names = {
            "#st": profile_item.STATUS,
            "#f": profile_item.FIELDS,
            "#ver": profile_item.VERSION,
            "#cv": profile_item.CONSENT_VERSION,
            "#u": profile_item.UPDATED_AT,
            "#cb": profile_item.CHANGED_BY,
        }
        values: dict[str, Any] = {
            ":active": _s(ACTIVE),
            ":now": _s(change.at.isoformat()),
            ":writer": _s(WRITER),
            ":one": {"N": "1"},
        }
        sets = ["#u = :now", "#cb = :writer"]
        for i, (name, ciphertext) in enumerate(change.fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = profile_item.field_attribute(ciphertext, change.at, WRITER)
            sets.append(f"#f.#f{i} = :f{i}")
        # consent_version too: warm channel containers cache token owners per subject and must reload them.
        expression = f"SET {', '.join(sets)} ADD #ver :one, #cv :one"
        condition = f"attribute_exists({profile_item.PK}) AND #st = :active"
        if change.claim_tokens or change.release_tokens:
            # Tokens change hands as read: conditioned on the version the plan was made from.
            values[":ver"] = {"N": str(change.expected_version)}
            condition = f"attribute_exists({profile_item.PK}) AND #st = :active AND #ver = :ver"
            moved = Counter(token_kind(t) for t in change.claim_tokens)
            moved.subtract(token_kind(t) for t in change.release_tokens)
            for i, (kind, count) in enumerate(k for k in moved.items() if k[1]):
                names[f"#l{i}"], values[f":l{i}"] = profile_item.LINK_COUNTERS[kind], {"N": str(count)}
                expression += f", #l{i} :l{i}"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._profiles,
                    "Key": keys.profile_key(change.subject_id),
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for token in change.release_tokens:
            items.append(
                {
                    "Delete": {
                        "TableName": self._index,
                        "Key": keys.token_key(token),
                        "ConditionExpression": f"{token_item.SUBJECT_ID} = :sid",
                        "ExpressionAttributeValues": {":sid": _s(change.subject_id)},
                    }
                }
            )
            items.append({"Delete": {"TableName": self._index, "Key": keys.link_key(change.subject_id, token)}})
        for token in change.claim_tokens:
            request_id = {token_item.REQUEST_ID: _s(change.request_id)}
            items.extend(token_claim(self._index, change.subject_id, token, change.at, **request_id))
        reasons = self._transact(items)
        # A conflict with another transaction says nothing about who holds the identifiers: read again and retry.
        if reasons and (reasons[0] == "ConditionalCheckFailed" or "TransactionConflict" in reasons):
            raise StaleSubject
        if reasons:
            raise IdentifierInUse("a corrected identifier was claimed by another profile meanwhile")

    def withdraw(self, change: Withdrawal) -> None:
        names = {
            "#st": profile_item.STATUS,
            "#c": profile_item.CONSENTS,
            "#cv": profile_item.CONSENT_VERSION,
            "#ver": profile_item.VERSION,
            "#u": profile_item.UPDATED_AT,
            "#cb": profile_item.CHANGED_BY,
        }
        values: dict[str, Any] = {
            ":active": _s(ACTIVE),
            ":cv": {"N": str(change.expected_consent_version)},
            ":now": _s(change.at.isoformat()),
            ":writer": _s(WRITER),
            ":one": {"N": "1"},
        }
        sets = ["#u = :now", "#cb = :writer"]
        for i, (key, record) in enumerate(change.consents.items()):
            names[f"#c{i}"], values[f":c{i}"] = key, consent_attribute(record)
            sets.append(f"#c.#c{i} = :c{i}")
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._profiles,
                    "Key": keys.profile_key(change.subject_id),
                    # +1: ingestion conditions every write on the consent version it cached, so warm containers reload.
                    "UpdateExpression": f"SET {', '.join(sets)} ADD #cv :one, #ver :one",
                    "ConditionExpression": f"attribute_exists({profile_item.PK}) AND #st = :active AND #cv = :cv",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        items.extend(
            {"Put": {"TableName": self._profiles, "Item": consent_history_item(change.subject_id, sealed)}}
            for sealed in change.history
        )
        if self._transact(items):
            raise StaleSubject

    def _transact(self, items: list[dict[str, Any]]) -> list[str]:
        """Cancellation reasons when the transaction's conditions failed; raises when the store is down."""
        try:
            self._db.transact_write_items(TransactItems=items)
        except SDK_ERRORS as error:
            if error_code(error) == "TransactionCanceledException":
                reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]  # type: ignore[union-attr]
                if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons):
                    return reasons
            logger.warning("compliance profile write failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; nothing was changed") from error
        return []

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        answer = self._call("subject read", self._db.get_item, TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = answer.get("Item")
        return item

    def _call(self, what: str, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except SDK_ERRORS as error:
            logger.warning(f"{what} failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; nothing was changed") from error
