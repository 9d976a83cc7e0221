"""`python -m compliance_cli`: data-subject requests for compliance officers, against a deployed stack
(--stack: its outputs give the API's URL and the compliance role, assumed with your profile and MFA) or the
local runner (--local starts one, --url http://127.0.0.1:3000 talks to `make serve`).

Results go to stdout, messages to stderr; exports go only to the file you name (mode 0600), never to the
terminal. Each kind of failure has its own exit code (compliance_cli.errors.Exit)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from compliance_cli import render
from compliance_cli.client import ComplianceClient
from compliance_cli.credentials import LOCAL_OPERATOR, Target, local_target, stack_target
from compliance_cli.errors import DeadlinePassed, Exit, FileExists, ToolError

PROG = "compliance"
REGULATIONS = ("gdpr", "ccpa", "lfpdppp")
IDENTIFIERS = (
    "email",
    "phone",
    "rfc",
    "curp",
    "app_user_id",
    "loyalty_id",
    "whatsapp",
    "messenger_id",
    "social_handle",
    "push_token",
    "anonymous_id",
)
LINK_FORMAT = "touchpoints.subject-export-link/1"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


# ---------------------------------------------------------------------- arguments
def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = main.add_argument_group("where (one of)")
    where.add_argument("--stack", help="a deployed stack's name: its outputs give the API URL and compliance role")
    where.add_argument("--url", help="the API's base URL; a loopback URL is the local runner (`make serve`)")
    where.add_argument("--local", action="store_true", help="start a local runner for this command (demo, tests)")
    who = main.add_argument_group("who")
    who.add_argument("--profile", help="your AWS profile (default: the default credentials chain)")
    who.add_argument("--region", help="the stack's region (default: the profile's)")
    who.add_argument("--role-arn", help="the compliance role to assume (default: the stack's output)")
    who.add_argument("--mfa-serial", help="your MFA device's ARN (default: the profile's mfa_serial)")
    who.add_argument("--mfa-code", help="the current MFA code (default: asked for)")
    who.add_argument("--no-assume-role", action="store_true", help="sign with the profile as it is")
    who.add_argument(
        "--as", dest="principal", default=LOCAL_OPERATOR, help="local runner only: which local principal signs"
    )
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    erase = _with_case(_with_subject(commands.add_parser("erase", help="erase a person (crypto-shredding)")))
    erase.add_argument("--no-suppress", dest="suppress", action="store_false", default=None, help="release the ids")
    erase.add_argument("--wait", action="store_true", help="follow the steps and pages until it is done")
    erase.add_argument("--interval", type=float, default=1.0, help="seconds between checks with --wait")
    erase.add_argument("--timeout", type=float, default=900.0, help="give up waiting after this many seconds")

    status = commands.add_parser("status", help="a request's state, steps, counts and deadline")
    status.add_argument("request_id")
    status.add_argument("--json", action="store_true", help="the API's answer as JSON")

    queue = commands.add_parser("queue", help="open and recent requests, sorted by deadline")
    queue.add_argument(
        "--state",
        choices=("open", "all", "received", "in_progress", "completed", "failed"),
        help="open (received, in progress or failed: the default), all, or one state",
    )
    queue.add_argument("--regulation", choices=REGULATIONS)
    queue.add_argument("--limit", type=int, default=50, help="rows per page")
    queue.add_argument("--all", action="store_true", help="every page, not only the first")
    queue.add_argument("--json", action="store_true", help="the rows as JSON")

    export = _with_case(_with_subject(commands.add_parser("export", help="everything held about a person, to a file")))
    export.add_argument("-o", "--output", required=True, type=Path, help="the file to write (created with mode 0600)")
    export.add_argument("--force", action="store_true", help="replace the file if it exists")

    rectify = _with_case(_with_subject(commands.add_parser("rectify", help="correct identity or contact values")))
    rectify.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a corrected value")
    rectify.add_argument("--corrections-file", type=Path, help="a JSON object of corrected values")

    objection = _with_case(_with_subject(commands.add_parser("object", help="withdraw consent to a purpose")))
    objection.add_argument(
        "--purpose", action="append", required=True, metavar="PURPOSE[:CHANNEL]", help="e.g. marketing or marketing:sms"
    )

    _with_case(_with_subject(commands.add_parser("lift", help="lift the suppression of an erased person's ids")))

    certificate = commands.add_parser("certificate", help="the erasure certificate of a completed erasure")
    certificate.add_argument("request_id")
    certificate.add_argument("--format", choices=("text", "json"), default="text")
    return main


def _with_subject(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    subject = command.add_argument_group(
        "the person (any of; identifiers in a file keep them out of your shell history)"
    )
    subject.add_argument("--subject-id")
    for name in IDENTIFIERS:
        subject.add_argument(f"--{name.replace('_', '-')}", dest=name)
    subject.add_argument("--subject-file", type=Path, help='a JSON object, e.g. {"email": "..."}')
    return command


def _with_case(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--regulation", required=True, choices=REGULATIONS)
    command.add_argument("--case", required=True, help="the team's case reference (no names, no emails)")
    return command


def subject_of(args: argparse.Namespace) -> dict[str, Any]:
    subject: dict[str, Any] = {}
    if args.subject_file:
        subject |= _json_object(args.subject_file, "--subject-file")
    if args.subject_id:
        subject["subject_id"] = args.subject_id
    subject |= {name: getattr(args, name) for name in IDENTIFIERS if getattr(args, name)}
    if not subject:
        raise ToolError("name the person: --subject-id, an identifier (--email, --phone, ...) or --subject-file")
    return subject


def _json_object(path: Path, option: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ToolError(f"{option}: cannot read a JSON object from {path} ({type(error).__name__})") from None
    if not isinstance(value, dict):
        raise ToolError(f"{option}: {path} must hold a JSON object")
    return value


# ---------------------------------------------------------------------- where and who
@contextlib.contextmanager
def target_of(args: argparse.Namespace) -> Iterator[Target]:
    if args.local:
        from local_runner.emulator.harness import served  # only in a checkout of the service

        say("starting a local runner (its data lives as long as this command)...")
        with served() as api:
            yield local_target(api.url, args.principal)
        return
    if args.url and urlparse(args.url).hostname in _LOOPBACK:
        yield local_target(args.url, args.principal)
        return
    if not (args.stack or args.url):
        raise ToolError("say where: --stack NAME, --url URL or --local")
    yield stack_target(
        stack=args.stack,
        url=args.url,
        profile=args.profile,
        region=args.region,
        role_arn=args.role_arn,
        mfa_serial=args.mfa_serial,
        mfa_code=args.mfa_code,
        assume=not args.no_assume_role,
    )


# ---------------------------------------------------------------------- commands
def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def show(text: str) -> None:
    print(text, flush=True)


def check_deadline(request: Mapping[str, Any]) -> None:
    note, missed = render.deadline_note(request)
    if missed:
        raise DeadlinePassed(f"{request['request_id']}: {note}")


def cmd_erase(client: ComplianceClient, args: argparse.Namespace) -> None:
    accepted = client.erase(subject_of(args), args.regulation, args.case, args.suppress)
    show("\n".join(render.status_lines(accepted)))
    if not args.wait:
        return
    final = follow(client, accepted, interval=args.interval, timeout=args.timeout)
    if final["state"] == "failed":
        raise ToolError(f"{final['request_id']}: the erasure failed ({final.get('failure')}); it resumes if redriven")
    check_deadline(final)


def follow(
    client: ComplianceClient,
    request: Mapping[str, Any],
    *,
    interval: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the request, printing each step as it is done and the purge's pages, until it completes or fails."""
    deadline = time.monotonic() + timeout
    progress = render.ErasureProgress()
    current = dict(request)
    while True:
        for line in progress.lines(current):
            show(line)
        if current["state"] in ("completed", "failed"):
            note, _ = render.deadline_note(current)
            show(f"{current['state']} at {current.get('completed_at') or current['updated_at']}; {note}")
            return current
        if time.monotonic() > deadline:
            raise ToolError(
                f"still {current['state']} after {timeout:.0f} s; follow it with `status {current['request_id']}`"
            )
        sleep(interval)
        current = client.status(str(request["request_id"]))


def cmd_status(client: ComplianceClient, args: argparse.Namespace) -> None:
    request = client.status(args.request_id)
    show(json.dumps(request, indent=2) if args.json else "\n".join(render.status_lines(request)))
    check_deadline(request)


def cmd_queue(client: ComplianceClient, args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        answer = client.queue(args.state, args.regulation, args.limit, page)
        rows.extend(answer.get("requests") or [])
        page = answer.get("next_token")
        if not (args.all and page):
            break
    rows.sort(key=lambda r: (str(r["deadline"]), str(r["received_at"])))
    if args.json:
        show(json.dumps(rows, indent=2))
    elif rows:
        show(render.queue_table(rows, render.use_colour(sys.stdout)))
    else:
        say("no requests match")
    if page:
        say("more requests: add --all to list every page")


def cmd_export(client: ComplianceClient, args: argparse.Namespace) -> None:
    output: Path = args.output
    if output.exists() and not args.force:
        raise FileExists(f"{output} exists: choose another file or pass --force to replace it")
    answer = client.export(subject_of(args), args.regulation, args.case)
    if answer.get("format") == LINK_FORMAT:
        say(f"large export ({answer['bytes']:,} bytes): fetching it from its link (valid until {answer['expires_at']})")
        body = client.fetch_link(str(answer["url"]))
        if hashlib.sha256(body).hexdigest() != answer["sha256"]:
            raise ToolError("the export fetched from its link does not match its checksum; export again")
        request_id = str(answer["request_id"])
    else:
        body = json.dumps(answer, ensure_ascii=False, indent=2).encode()
        request_id = str(answer.get("request_id"))
    write_private(output, body, replace=args.force)
    interactions = len(json.loads(body).get("interactions") or [])
    show(f"{request_id}: export written to {output} ({len(body):,} bytes, {interactions:,} interactions, mode 0600)")


def write_private(path: Path, body: bytes, *, replace: bool) -> None:
    """Only the operator may read it: created 0600 (umask cannot widen it); never over a file unless told to."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise FileExists(f"{path} exists: choose another file or pass --force to replace it") from None
    except OSError as error:
        raise ToolError(f"cannot write {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # a replaced file keeps its old mode otherwise
        handle.write(body)


def cmd_rectify(client: ComplianceClient, args: argparse.Namespace) -> None:
    corrections: dict[str, Any] = {}
    if args.corrections_file:
        corrections = _json_object(args.corrections_file, "--corrections-file")
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ToolError("--set takes FIELD=VALUE")
        corrections[name.strip()] = value
    if not corrections:
        raise ToolError("name at least one corrected value: --set FIELD=VALUE or --corrections-file")
    answer = client.rectify(subject_of(args), corrections, args.regulation, args.case)
    show("\n".join(render.status_lines(answer)))
    show(f"  corrected {', '.join(answer.get('fields_corrected') or [])}")


def cmd_object(client: ComplianceClient, args: argparse.Namespace) -> None:
    objections = []
    for item in args.purpose:
        purpose, _, channel = item.partition(":")
        objections.append({"purpose": purpose, "channel": channel or "all"})
    answer = client.object(subject_of(args), objections, args.regulation, args.case)
    show("\n".join(render.status_lines(answer)))
    show(f"  withdrawn {', '.join(answer.get('withdrawn') or [])}")


def cmd_lift(client: ComplianceClient, args: argparse.Namespace) -> None:
    show("\n".join(render.status_lines(client.lift(subject_of(args), args.regulation, args.case))))


def cmd_certificate(client: ComplianceClient, args: argparse.Namespace) -> None:
    if args.format == "json":
        show(json.dumps(client.certificate(args.request_id), indent=2))
    else:
        show(client.certificate_text(args.request_id).rstrip("\n"))


COMMANDS: dict[str, Callable[[ComplianceClient, argparse.Namespace], None]] = {
    "erase": cmd_erase,
    "status": cmd_status,
    "queue": cmd_queue,
    "export": cmd_export,
    "rectify": cmd_rectify,
    "object": cmd_object,
    "lift": cmd_lift,
    "certificate": cmd_certificate,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with target_of(args) as target:
            COMMANDS[args.command](ComplianceClient(target), args)
    except ToolError as error:
        say(f"{PROG}: {error.message}")
        return int(error.exit_code)
    except KeyboardInterrupt:
        say(f"{PROG}: interrupted")
        return 130
    return int(Exit.OK)
