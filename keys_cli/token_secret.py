"""`keys token-secret`: rotate the tokenization secret without plaintext (docs/keys.md, "The tokenization secret").

    start      add the next version's secret (phase dual: written in the old version, looked up in both)
    progress   where the rotation stands: phase, segments done, counts, heartbeat (never a token or a value)
    run        move to the new version once containers caught up, then move every stored token to it
               (resumable: run it again after a crash, it goes on from the stored cursors)
    finish     once a pass moved nothing: phase stable at the new version; old vouching keys kept for the overlap
    vouching-key   a channel's vouching key of a version, base64, for its back end (a secret: handle it as one)

Where: --stack NAME (a deployed stack: its resources are looked up, your credentials used), --local (the local
runner's embedded AWS, names from env.json) or the names and --endpoint-url given one by one."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from touchpoints.errors import DomainError
from touchpoints.privacy.token_rotation import (
    DEFAULT_PROPAGATION,
    DEFAULT_VOUCH_OVERLAP,
    SCANS,
    RotationProgress,
    TokenSecretRotation,
    describe,
)
from touchpoints.privacy.tokenizer import Tokenizer

ENV_JSON = Path(__file__).resolve().parent.parent / "env.json"
LOCAL_ENDPOINT = "http://localhost:5000"
_RESOURCES = {
    "IdentityIndexTable": "identity_index",
    "ProfileTable": "profile_table",
    "TokenizationSecret": "secret_id",
}


def register(groups: Any) -> None:
    group: argparse.ArgumentParser = groups.add_parser(
        "token-secret",
        help="rotate the tokenization secret",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = group.add_argument_group("where")
    where.add_argument("--stack", help="a deployed stack's name")
    where.add_argument("--local", action="store_true", help=f"the local runner ({LOCAL_ENDPOINT}, env.json)")
    where.add_argument("--endpoint-url", help="an AWS endpoint (moto, LocalStack)")
    where.add_argument("--region", help="the stack's region (default: your profile's)")
    where.add_argument("--identity-index", help="identity index table name")
    where.add_argument("--profile-table", help="profile table name")
    where.add_argument("--secret-id", help="tokenization secret id")
    steps = group.add_subparsers(dest="step", required=True)
    start = steps.add_parser("start", help="add the next version (phase dual)")
    start.add_argument(
        "--propagation-seconds",
        type=int,
        default=int(DEFAULT_PROPAGATION.total_seconds()),
        help="wait between phases: the secret refresh plus the longest invocation (default %(default)s)",
    )
    start.add_argument("--segments", type=int, default=4, help="parallel scan segments of the move (default 4)")
    start.set_defaults(run=_start)
    steps.add_parser("progress", help="where the rotation stands").set_defaults(run=_progress)
    run = steps.add_parser("run", help="write the new version, then move every stored token (resumable)")
    run.set_defaults(run=_run)
    finish = steps.add_parser("finish", help="stable at the new version once a pass moved nothing")
    finish.add_argument(
        "--vouch-overlap-days",
        type=float,
        default=DEFAULT_VOUCH_OVERLAP.days,
        help="days the previous version's vouching keys are still accepted (default %(default)s)",
    )
    finish.set_defaults(run=_finish)
    key = steps.add_parser("vouching-key", help="a channel's vouching key (base64) for its back end")
    key.add_argument("--channel", required=True)
    key.add_argument("--version", help="t1, t2, ... (default: the newest)")
    key.set_defaults(run=_vouching_key)
    group.set_defaults(run=lambda arguments: 2)


def rotation(arguments: argparse.Namespace) -> TokenSecretRotation:
    import boto3

    from touchpoints.adapters.secrets import SecretsManagerTokenSecret
    from touchpoints.adapters.token_rotation_store import CloudWatchRotationMetrics, DynamoTokenRotationStore

    names = _names(arguments)
    endpoint = arguments.endpoint_url or (LOCAL_ENDPOINT if arguments.local else None)
    session = boto3.session.Session(region_name=arguments.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    return TokenSecretRotation(
        SecretsManagerTokenSecret(client("secretsmanager"), names["secret_id"]),
        DynamoTokenRotationStore(client("dynamodb"), names["identity_index"], names["profile_table"]),
        metrics=CloudWatchRotationMetrics(client("cloudwatch")),
    )


def _names(arguments: argparse.Namespace) -> dict[str, str]:
    names: dict[str, str] = {}
    if arguments.stack:
        import boto3

        stack = boto3.client("cloudformation", region_name=arguments.region)
        for resource in stack.describe_stack_resources(StackName=arguments.stack)["StackResources"]:
            if resource["LogicalResourceId"] in _RESOURCES:
                names[_RESOURCES[resource["LogicalResourceId"]]] = resource["PhysicalResourceId"]
    elif arguments.local:
        parameters = json.loads(ENV_JSON.read_text())["Parameters"]
        names = {
            "identity_index": parameters["IDENTITY_INDEX_TABLE_NAME"],
            "profile_table": parameters["PROFILE_TABLE_NAME"],
            "secret_id": parameters["TOKENIZATION_SECRET_ID"],
        }
    for name in _RESOURCES.values():
        if given := getattr(arguments, name):
            names[name] = given
        elif not names.get(name) and (from_env := os.environ.get(name.upper())):
            names[name] = from_env
    if missing := [n for n in _RESOURCES.values() if not names.get(n)]:
        raise DomainError(f"say where: --stack, --local, or {', '.join('--' + m.replace('_', '-') for m in missing)}")
    return names


def _say(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True))


def _guarded(step: Any) -> Any:
    def run(arguments: argparse.Namespace) -> int:
        try:
            return int(step(arguments) or 0)
        except DomainError as error:  # refused steps and unavailable tables: said plainly, exit 1
            print(f"keys token-secret: {error}", file=sys.stderr)
            return 1

    return run


@_guarded
def _start(arguments: argparse.Namespace) -> int:
    progress = rotation(arguments).start(
        propagation=timedelta(seconds=arguments.propagation_seconds), segments=arguments.segments
    )
    _say({**describe(progress), "next": f"`run` after {progress.ready_at().isoformat()}"})
    return 0


@_guarded
def _progress(arguments: argparse.Namespace) -> int:
    progress = rotation(arguments).progress()
    if progress is None:
        _say({"rotation": "none yet"})
        return 0
    stalled = (
        progress.phase.value != "stable"
        and progress.heartbeat_at is not None
        and (datetime.now(UTC) - progress.heartbeat_at > timedelta(hours=2))
    )
    _say({**describe(progress), "stalled": stalled, "scans": list(SCANS)})
    return 0


@_guarded
def _run(arguments: argparse.Namespace) -> int:
    from local_runner.commands.demo import Progress

    bar = Progress("moving tokens, pass 1", 1, sys.stderr)

    def show(progress: RotationProgress) -> None:
        counts = progress.counts
        bar.label, bar.total = f"moving tokens, pass {progress.passes + 1}", max(len(progress.cursors), 1)
        done = sum(cursor == "done" for cursor in progress.cursors.values())
        bar.update(
            done,
            f"segments; scanned {counts.get('scanned', 0)} moved {counts.get('moved', 0)} "
            f"conflicts {counts.get('conflicts', 0)}",
        )

    progress = rotation(arguments).run(on_page=show)
    bar.finish(f"segments; moved {progress.counts.get('moved', 0)}, last pass {progress.last_pass_moved}")
    _say(describe(progress))
    return 0


@_guarded
def _finish(arguments: argparse.Namespace) -> int:
    progress = rotation(arguments).finish(vouch_overlap=timedelta(days=arguments.vouch_overlap_days))
    _say(describe(progress))
    return 0


@_guarded
def _vouching_key(arguments: argparse.Namespace) -> int:
    tokenizer = Tokenizer(rotation(arguments).state())
    print(base64.b64encode(tokenizer.vouching_key(arguments.channel, arguments.version)).decode())
    return 0
