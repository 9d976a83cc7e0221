"""`keys branch-keys start | progress | finish`: rotating the branch key that wraps every person's data key.

    start     a new branch key version, active at once, and the re-wrap job over the key vault (a progress bar).
              Run again after a crash or Ctrl-C: it resumes from the stored cursors. The first `start` on a
              stack deployed before the key hierarchy is the migration: it moves every KMS-wrapped data key.
    progress  where the rotation stands (from its stored record): items read and moved, heartbeat, what finish
              will retire. `--watch` follows a running job with a progress bar.
    finish    after the settling time: sweeps, counts the vault by version and retires every older version.

Where: --stack NAME (a deployed stack: table names and the KMS key from its outputs, your AWS credentials), --local
(the local runner's AWS at http://localhost:5000, `python -m local_runner aws`; names as env.json), or
--endpoint-url URL (another local AWS, e.g. the one `python -m local_runner serve` prints), names overridable.
docs/keys.md explains the hierarchy, what each key protects, and what a rotation changes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from touchpoints.errors import DomainError
from touchpoints.privacy.branch_keys import LEGACY_KMS, BranchKeyCache
from touchpoints.privacy.rotation import DEFAULT_SETTLE, BranchKeyRotation, RotationRecord, RotationRefused

# The local runner's names (env.json): tables are named after their logical ids, the key by its alias.
LOCAL_NAMES = {"vault": "KeyVaultTable", "branch_keys": "BranchKeyTable", "kms_key": "alias/DataKey"}
LOCAL_ENDPOINT = "http://localhost:5000"
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto takes any


@dataclass(frozen=True)
class Target:
    vault: str
    branch_keys: str
    kms_key: str
    endpoint: str | None
    region: str | None


def register(groups: Any) -> None:
    group: argparse.ArgumentParser = groups.add_parser(
        "branch-keys",
        help="rotate the branch key that wraps every person's data key (start, progress, finish)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = group.add_argument_group("where")
    where.add_argument("--stack", help="a deployed stack: names from its outputs (your AWS credentials)")
    where.add_argument("--local", action="store_true", help=f"the local runner ({LOCAL_ENDPOINT}, env.json)")
    where.add_argument("--endpoint-url", help="an AWS endpoint (moto, LocalStack), with the local names")
    where.add_argument("--region", help="AWS region (default: your configuration's)")
    where.add_argument("--vault-table", help="override: the key vault table's name")
    where.add_argument("--branch-key-table", help="override: the branch key table's name")
    where.add_argument("--kms-key", help="override: the KMS key (id, ARN or alias) that protects the branch keys")
    commands = group.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="a new version and the re-wrap job; run again to resume")
    start.add_argument("--segments", type=int, default=8, help="parallel scan segments (default 8)")
    start.add_argument("--page-size", type=int, default=500, help="vault items per page (default 500)")
    start.add_argument(
        "--kms-per-second",
        type=float,
        default=500.0,
        help="KMS Decrypts a second for KMS-wrapped (legacy) items; the account's quota is shared (default 500)",
    )
    start.add_argument(
        "--settle-seconds",
        type=int,
        default=int(DEFAULT_SETTLE.total_seconds()),
        help="how long before finish (every container's branch key cache, the longest function)",
    )
    start.add_argument("--no-run", action="store_true", help="only start (or claim) the rotation, no pass")
    start.set_defaults(run=_start)

    progress = commands.add_parser("progress", help="where the rotation stands")
    progress.add_argument("--watch", action="store_true", help="follow a running job with a progress bar")
    progress.add_argument("--every", type=float, default=2.0, help=argparse.SUPPRESS)
    progress.set_defaults(run=_progress)

    finish = commands.add_parser("finish", help="sweep, count and retire the older versions")
    finish.add_argument("--segments", type=int, default=8, help="parallel scan segments (default 8)")
    finish.set_defaults(run=_finish)


def _start(arguments: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout

    def go() -> int:
        rotation = _rotation(arguments, settle=timedelta(seconds=arguments.settle_seconds))
        record = rotation.start()
        resumed = record.counts.get("scanned", 0) > 0 or any(record.segments.values())
        verb = "resuming" if resumed else "started"
        print(f"branch key rotation to {_short(record.target)} {verb} (begun {_when(record.started_at)})", file=out)
        print(
            "  new data keys are wrapped under it from now on, in every container within its branch key cache",
            file=out,
        )
        if arguments.no_run:
            return 0
        record = _run(rotation, record, out)
        if not record.pass_done:
            print("stopped: `keys branch-keys start` resumes from here", file=out)
            return 1
        print(f"pass done: {_counts(record)}", file=out)
        print(f"finish from {_when(record.settled_at)} on: `keys branch-keys finish`", file=out)
        return 0

    return _guarded(go, out)


def _progress(arguments: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout

    def go() -> int:
        rotation = _rotation(arguments)
        record, versions, active = rotation.progress()
        if record is None:
            print(
                f"no rotation yet; active version: {_short(active) if active else 'none (data keys by KMS)'}", file=out
            )
            return 0
        print(_describe(record, versions, active, datetime.now(UTC)), file=out)
        if arguments.watch and record.state != "finished" and not record.pass_done:
            _watch(rotation, record, out, every=arguments.every)
        return 0

    return _guarded(go, out)


def _finish(arguments: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout

    def go() -> int:
        rotation = _rotation(arguments, segments=arguments.segments)
        print("sweeping the key vault for keys written under an older version meanwhile, then counting", file=out)
        done = rotation.finish()
        retired = ", ".join(_short(v) for v in done.retired) or "none"
        print(f"rotation to {_short(done.target)} finished: every vault item is under it; retired: {retired}", file=out)
        return 0

    return _guarded(go, out)


def _run(rotation: BranchKeyRotation, record: RotationRecord, out: IO[str]) -> RotationRecord:
    from local_runner.commands.demo import Progress

    bar = Progress("re-wrapping the key vault", max(record.estimated_items, 1), out)
    stop = threading.Event()
    lock = threading.Lock()

    def on_page(current: RotationRecord) -> None:
        with lock:
            bar.total = max(bar.total, current.counts.get("scanned", 0))
            bar.update(current.counts.get("scanned", 0), _counts(current))

    try:
        record = rotation.run(record, on_page=on_page, should_stop=stop.is_set)
    except KeyboardInterrupt:
        stop.set()
        raise
    if record.pass_done:
        bar.finish(_counts(record))
    return record


def _watch(rotation: BranchKeyRotation, record: RotationRecord, out: IO[str], *, every: float) -> None:
    from local_runner.commands.demo import Progress

    bar = Progress("re-wrapping the key vault", max(record.estimated_items, 1), out)
    while True:
        current, _, _ = rotation.progress()
        if current is None:
            return
        bar.total = max(bar.total, current.counts.get("scanned", 0))
        bar.update(current.counts.get("scanned", 0), _counts(current))
        if current.pass_done or current.state == "finished":
            bar.finish(_counts(current))
            return
        if current.stalled(datetime.now(UTC)):
            print("\nstalled: the job stopped writing; `keys branch-keys start` resumes it", file=out)
            return
        time.sleep(every)


def _describe(record: RotationRecord, versions: list[str], active: str | None, now: datetime) -> str:
    lines = [f"rotation to {_short(record.target)}: {record.state}, begun {_when(record.started_at)}"]
    lines.append(f"  {_counts(record)} (the vault held about {record.estimated_items} items at the start)")
    if record.state == "finished":
        retired = ", ".join(_short(v) for v in record.retired) or "none"
        lines.append(f"  finished {_when(record.finished_at)}; retired: {retired}")
    else:
        done = sum(1 for cursor in record.segments.values() if cursor == "done")
        age = int((now - record.heartbeat_at).total_seconds())
        health = "STALLED: `keys branch-keys start` resumes it" if record.stalled(now) else "ok"
        lines.append(f"  pass: {done}/{len(record.segments)} segments done; heartbeat {age} s ago ({health})")
        older = [_short(v) for v in versions if v != record.target]
        lines.append(f"  finish retires: {', '.join(older) or 'no stored version'} (and any KMS-wrapped item is moved)")
        lines.append(f"  finish possible from {_when(record.settled_at)}, once the pass is done")
    lines.append(f"  active version: {_short(active) if active else 'none'}")
    return "\n".join(lines)


def _rotation(
    arguments: argparse.Namespace, *, settle: timedelta = DEFAULT_SETTLE, segments: int | None = None
) -> BranchKeyRotation:
    from touchpoints.adapters import aws
    from touchpoints.adapters.branch_key_admin import BranchKeyAdmin
    from touchpoints.adapters.kms import KmsKeyWrapper
    from touchpoints.adapters.vault_items import DynamoVaultItems

    target = _target(arguments)
    credentials = LOCAL_CREDENTIALS if target.endpoint else {}

    def client(service: str) -> Any:
        options = {"endpoint_url": target.endpoint, "region_name": target.region, **credentials}
        return aws.session().client(service, config=aws.SDK_CONFIG, **options)  # type: ignore[call-overload]

    dynamodb, kms = client("dynamodb"), client("kms")
    admin = BranchKeyAdmin(dynamodb, kms, target.branch_keys, target.kms_key)
    return BranchKeyRotation(
        admin,
        DynamoVaultItems(dynamodb, target.vault),
        BranchKeyCache(admin),
        KmsKeyWrapper(kms, target.kms_key),
        clock=lambda: datetime.now(UTC),
        settle=settle,
        segments=segments or int(getattr(arguments, "segments", 8)),
        page_size=getattr(arguments, "page_size", 500),
        kms_per_second=getattr(arguments, "kms_per_second", 500.0),
    )


def _target(arguments: argparse.Namespace) -> Target:
    endpoint = arguments.endpoint_url or (LOCAL_ENDPOINT if arguments.local else None)
    names = dict(LOCAL_NAMES) if endpoint else {}
    region = arguments.region or ("us-east-1" if endpoint else None)
    if arguments.stack:
        names.update(_stack_names(arguments.stack, region))
    overrides = {
        "vault": arguments.vault_table,
        "branch_keys": arguments.branch_key_table,
        "kms_key": arguments.kms_key,
    }
    names.update({k: v for k, v in overrides.items() if v})
    missing = [k for k in ("vault", "branch_keys", "kms_key") if not names.get(k)]
    if missing:
        raise RotationRefused("say where: --stack NAME (deployed), --local or --endpoint-url URL (local runner)")
    return Target(names["vault"], names["branch_keys"], names["kms_key"], endpoint, region)


def _stack_names(stack: str, region: str | None) -> dict[str, str]:
    from touchpoints.adapters import aws

    cloudformation = aws.session().client("cloudformation", region_name=region)
    found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found}
    wanted = {"vault": "KeyVaultTableName", "branch_keys": "BranchKeyTableName", "kms_key": "DataKeyArn"}
    return {name: outputs[key] for name, key in wanted.items() if key in outputs}


def _guarded(go: Any, out: IO[str]) -> int:
    try:
        return int(go())
    except KeyboardInterrupt:
        print("\ninterrupted: the rotation's progress is stored; `keys branch-keys start` resumes it", file=out)
        return 130
    except RotationRefused as refused:
        print(f"refused: {refused.message}", file=out)
        return 1
    except DomainError as error:
        print(f"AWS did not answer: {error.message}; nothing is lost, run the command again", file=out)
        return 3


def _counts(record: RotationRecord) -> str:
    c = record.counts
    text = f"{c.get('scanned', 0)} read, {c.get('moved', 0)} moved, {c.get('gone', 0)} erased meanwhile"
    return text + (f", {c['unreadable']} UNREADABLE" if c.get("unreadable") else "")


def _short(version: str | None) -> str:
    return "-" if version is None else version if version == LEGACY_KMS else version[:8]


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
