"""Tokenization secret rotation over an identity index of `items` items (moto in-process): the move's time,
a crash and resume halfway, and the invariants: no person split, no suppression lost, no old token left."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

PEOPLE_PER_MARKER = 20  # one erased identifier (a suppression marker, index and list) per this many people


def measure(items: int = 100_000) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from local_runner.emulator.moto_fixes import install as install_moto_fixes
    from local_runner.emulator.provision import provision
    from local_runner.emulator.template import load
    from touchpoints.adapters import keys
    from touchpoints.adapters.secrets import SecretsManagerTokenSecret
    from touchpoints.adapters.token_rotation_store import DynamoTokenRotationStore
    from touchpoints.model import IdentifierKind
    from touchpoints.privacy.token_rotation import TokenSecretRotation, parse_secret
    from touchpoints.privacy.tokenizer import Tokenizer

    install_moto_fixes()  # the embedded AWS's: journaled transactions (moto copies whole tables), indexed queries
    with mock_aws():
        provisioned = provision(load(), boto3.client)
        db, sm = boto3.client("dynamodb"), boto3.client("secretsmanager")
        index, profiles = provisioned.tables["IdentityIndexTable"], provisioned.tables["ProfileTable"]
        secret_id = next(s["ARN"] for s in sm.list_secrets()["SecretList"])
        before = Tokenizer(parse_secret(sm.get_secret_value(SecretId=secret_id)["SecretString"]))
        people = items // 2  # a TOKEN# item and a LINK# item each
        held: dict[str, str] = {}
        markers: list[str] = []
        index_items: list[dict[str, Any]] = []
        listed: list[dict[str, Any]] = []
        for n in range(people):
            token = before.token(IdentifierKind.PHONE, f"+5255{n:08d}")
            if n % PEOPLE_PER_MARKER == 0:
                marker = {**keys.token_key(token), "entity": {"S": "suppression"}, "suppressed": {"BOOL": True}}
                index_items.append(marker)
                listed.append(marker)
                markers.append(token)
                continue
            subject = f"sub_{secrets.token_hex(8)}"
            held[token] = subject
            index_items.append({**keys.token_key(token), "entity": {"S": "token"}, "subject_id": {"S": subject}})
            index_items.append({**keys.link_key(subject, token), "entity": {"S": "link"}, "kind": {"S": "phone"}})
        for table, rows in ((index, index_items), (profiles, listed)):
            for start in range(0, len(rows), 25):
                db.batch_write_item(
                    RequestItems={table: [{"PutRequest": {"Item": i}} for i in rows[start : start + 25]]}
                )

        def job() -> TokenSecretRotation:
            return TokenSecretRotation(
                SecretsManagerTokenSecret(sm, secret_id), DynamoTokenRotationStore(db, index, profiles)
            )

        began = time.perf_counter()
        job().start(propagation=timedelta(0), segments=4)
        pages = iter(range(len(index_items) // 2000))
        job().run(should_stop=lambda: next(pages, None) is None)  # "crash" halfway: the process goes, cursors stay
        resumed = job().run()
        finished = job().finish()
        seconds = time.perf_counter() - began

        after = Tokenizer(parse_secret(sm.get_secret_value(SecretId=secret_id)["SecretString"]))
        found = _all(db, index)
        by_pk = {i["pk"]["S"]: i for i in found if i["sk"]["S"] == "TOKEN"}
        split = sum(
            by_pk.get(keys.token_pk(after.current(t)), {}).get("subject_id", {}).get("S") != s for t, s in held.items()
        )
        lost = sum(
            not by_pk.get(keys.token_pk(after.current(t)), {}).get("suppressed", {}).get("BOOL") for t in markers
        )
        old_left = sum(i["pk"]["S"].startswith("TOKEN#t1.") or i["sk"]["S"].startswith("LINK#t1.") for i in found)
        list_left = sum(i["pk"]["S"].startswith("TOKEN#t1.") for i in _all(db, profiles))
        return {
            "index_items": len(index_items),
            "people": len(held),
            "suppression_markers": len(markers),
            "seconds": round(seconds, 1),
            "items_per_second": round(len(index_items) / seconds),
            "passes": resumed.passes,
            "moved": finished.counts.get("moved", 0),
            "conflicts": finished.counts.get("conflicts", 0),
            "people_split": split,
            "suppressions_lost": lost,
            "old_tokens_left": old_left + list_left,
        }


def _all(db: Any, table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = db.scan(**request)
        found.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    held = m["people_split"] == 0 and m["suppressions_lost"] == 0 and m["old_tokens_left"] == 0
    return [
        (
            f"token secret rotation, {m['index_items']:,} index items (moto), crashed halfway and resumed",
            f"{m['seconds']:,} s",
            f"{m['items_per_second']} items/s, {m['passes']} passes",
            f"{m['people_split']} split, {m['suppressions_lost']} suppressions lost, {m['old_tokens_left']} t1 left",
            "completes, 0 split, 0 lost",
            "yes" if held else "NO",
        )
    ]
