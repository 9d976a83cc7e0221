"""KMS calls for a thousand people on a new container, before and after the key hierarchy (issue 24).

On one moto stack: the stack as deployed before the hierarchy (no branch key: every data key made and opened by
KMS), then its first rotation (the migration: the re-wrap job over the vault, timed), then the same people and a
thousand new ones, each batch on a new container of the web function.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.harness import CallCounter, lambda_context, quiet_stdout, web_event, web_signup
from benchmarks.stack import Stack

TARGET_CALLS = 2  # issue 24: 1,000 known people on a new container, and 1,000 new people, in at most 2 KMS calls each


def _batch(stack: Stack, people: range, action: str = "sign_up") -> dict[str, int]:
    """One new container, one touchpoint of each person: its KMS calls by operation."""
    stack.activate()
    handler, context = stack.handler(), lambda_context()
    counter = CallCounter().attach(stack.client("kms"))
    with quiet_stdout():
        for n in people:
            payload = web_signup(n)
            if action != "sign_up":
                payload["action"] = action
            answer = handler(web_event(payload, stack.api_key_id), context)
            assert answer["statusCode"] == 200, answer["body"]
    return dict(counter.calls)


def _without_branch_keys(stack: Stack) -> None:
    raw = stack.raw_client("dynamodb")
    table = stack.provisioned.tables["BranchKeyTable"]
    for item in raw.scan(TableName=table)["Items"]:
        raw.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def _migrate(stack: Stack) -> dict[str, Any]:
    """The first rotation on the legacy vault: the job's KMS calls and its rate (moto, one process)."""
    from touchpoints.adapters.branch_key_admin import BranchKeyAdmin
    from touchpoints.adapters.kms import KmsKeyWrapper
    from touchpoints.adapters.vault_items import DynamoVaultItems
    from touchpoints.privacy.branch_keys import BranchKeyCache
    from touchpoints.privacy.rotation import BranchKeyRotation

    dynamodb, kms = stack.raw_client("dynamodb"), stack.raw_client("kms")
    counter = CallCounter().attach(kms)
    key_id = stack.provisioned.intrinsics.refs["DataKey"]
    admin = BranchKeyAdmin(dynamodb, kms, stack.provisioned.tables["BranchKeyTable"], key_id)
    job = BranchKeyRotation(
        admin,
        DynamoVaultItems(dynamodb, stack.key_vault_table),
        BranchKeyCache(admin),
        KmsKeyWrapper(kms, key_id),
        clock=lambda: datetime.now(UTC),
        settle=timedelta(0),
        kms_per_second=0,
    )
    start = time.perf_counter()
    record = job.run(job.start())
    seconds = time.perf_counter() - start
    done = job.finish()
    return {
        "moved": record.counts["moved"],
        "seconds": seconds,
        "items_per_s": record.counts["moved"] / seconds if seconds else 0.0,
        "kms_calls_by_operation": dict(counter.calls),
        "finished": done.state == "finished",
    }


def measure(stack: Stack, *, people: int) -> dict[str, Any]:
    _without_branch_keys(stack)
    before = {
        "new_people": _batch(stack, range(people)),
        "known_people": _batch(stack, range(people), "page_view"),
    }
    migration = _migrate(stack)
    after = {
        "known_people": _batch(stack, range(people), "page_view"),
        "new_people": _batch(stack, range(people, 2 * people)),
    }
    met = all(sum(calls.values()) <= TARGET_CALLS for calls in after.values())
    return {
        "people": people,
        "before_hierarchy": before,
        "migration": migration,
        "with_hierarchy": after,
        "target": f"<= {TARGET_CALLS} KMS calls for {people} known people, and for {people} new people, each on a "
        "new container",
        "met": met,
    }


def rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    n = m["people"]
    found = []
    for kind in ("known_people", "new_people"):
        ours = m["with_hierarchy"][kind]
        before = m["before_hierarchy"][kind]
        found.append(
            (
                f"KMS calls, {n} {kind.replace('_', ' ')}, new container",
                f"{sum(ours.values())} ({', '.join(f'{k} {v}' for k, v in sorted(ours.items()))})",
                f"before {sum(before.values())} ({', '.join(f'{k} {v}' for k, v in sorted(before.items()))})",
                "",
                f"<= {TARGET_CALLS}",
                "yes" if sum(ours.values()) <= TARGET_CALLS else "NO",
            )
        )
    migration = m["migration"]
    found.append(
        (
            f"  migration of {migration['moved']} KMS-wrapped keys (moto)",
            f"{migration['items_per_s']:.0f} items/s",
            f"{sum(migration['kms_calls_by_operation'].values())} KMS calls",
            "",
            "",
            "",
        )
    )
    return found
