"""`report audience`: a program's audience (GET /v1/reports/audiences, every page), to a file or into contact decisions.

    report audience --program ticket_registration --channel email --purpose marketing --out audience.txt
    report audience ... --campaign-id buen-fin-2026 --decide [--reserve]

--out writes one profile id a line to a new file, mode 0600 (an existing file is refused). --decide posts the ids
to POST /v1/<channel>/contact-decisions in chunks of 1,000 with the channel's API key (TOUCHPOINTS_API_KEY; the
local runner's key by default) and prints how many were allowed and why the others were refused. Profile ids and
counts only: no personal data reaches the file or the terminal. Where: --url (a loopback URL is the local runner,
`make serve`), --local (starts one) or --stack; the report is signed with SigV4 as compliance_cli signs
(compliance_cli.credentials): the local `developer` principal, or your profile (a role with --role-arn).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from compliance_cli.cli import target_of as compliance_target_of
from compliance_cli.client import refusal
from compliance_cli.credentials import Target
from compliance_cli.errors import FileExists, ToolError, Unavailable

ROUTE = "/v1/reports/audiences"
CHUNK = 1000  # the recipients one contact-decisions request takes
LOCAL_PRINCIPAL = "developer"  # a local IAM user: the reports take any signed caller
API_KEY_VARIABLE = "TOUCHPOINTS_API_KEY"
LOCAL_API_KEYS = {
    "email": "EmailApiKey",
    "sms": "SmsApiKey",
    "push": "PushApiKey",
    "contact-center": "ContactCenterApiKey",
}
TIMEOUT = (5, 60)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def register(groups: Any) -> None:
    command: argparse.ArgumentParser = groups.add_parser(
        "audience", help="a program's audience: to a file (0600) or into contact decisions", description=__doc__
    )
    where = command.add_argument_group("where (one of)")
    where.add_argument("--url", help="the API's base URL; a loopback URL is the local runner (`make serve`)")
    where.add_argument("--local", action="store_true", help="start a local runner for this command")
    where.add_argument("--stack", help="a deployed stack's name: its ApiUrl output")
    who = command.add_argument_group("who (a deployed stack)")
    who.add_argument("--profile", help="your AWS profile (default: the default credentials chain)")
    who.add_argument("--region", help="the stack's region (default: the profile's)")
    who.add_argument("--role-arn", help="a role to assume for the report (default: sign with the profile as it is)")
    who.add_argument("--mfa-serial")
    who.add_argument("--mfa-code")
    what = command.add_argument_group("the audience")
    what.add_argument("--program", required=True, help="a program of classification.yaml, e.g. ticket_registration")
    what.add_argument("--channel", required=True, help="a sending channel: email, sms, push, contact-center")
    what.add_argument("--purpose", required=True, help="a purpose of contact.yaml, e.g. marketing")
    what.add_argument("--campaign-id", help="the campaign: counted as pulled for it; needed by --decide")
    output = command.add_mutually_exclusive_group(required=True)
    output.add_argument("--out", type=Path, help="write the ids here, one a line (a new file, mode 0600)")
    output.add_argument("--decide", action="store_true", help="ask contact decisions for every id")
    command.add_argument("--reserve", action="store_true", help="with --decide: reserve every allowed contact")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.decide and not args.campaign_id:
            raise ToolError("--decide needs --campaign-id: contact decisions are asked for a campaign")
        if args.reserve and not args.decide:
            raise ToolError("--reserve goes with --decide")
        with target_of(args) as target:
            pages = audience_pages(target, args.program, args.channel, args.purpose, args.campaign_id)
            if args.out:
                written = write_ids(args.out, pages)
                say(f"{written} profile ids written to {args.out} (mode 0600)")
            else:
                summary = decide(
                    target, args.channel, args.purpose, args.campaign_id, args.reserve, pages, api_key(args)
                )
                print(json.dumps(summary, indent=2, sort_keys=True))
    except ToolError as error:
        say(f"error: {error.message}")
        return int(error.exit_code)
    return 0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def target_of(args: argparse.Namespace) -> contextlib.AbstractContextManager[Target]:
    """Where and who as the compliance tool resolves them: the local `developer` principal, or the profile as it is
    (a role only with --role-arn)."""
    args.principal, args.no_assume_role = LOCAL_PRINCIPAL, not args.role_arn
    return compliance_target_of(args)


def _answer(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    if response.status_code >= 300:
        raise refusal(response.status_code, payload)
    return payload


def _send(method: str, url: str, headers: dict[str, str], data: bytes = b"") -> requests.Response:
    try:
        return requests.request(method, url, data=data, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise Unavailable(
            f"the API at {url.split('/v1/', maxsplit=1)[0]} cannot be reached ({type(error).__name__})"
        ) from None


def audience_pages(
    target: Target, program: str, channel: str, purpose: str, campaign_id: str | None
) -> Iterator[list[str]]:
    """Every page's ids, following next_cursor until the audience ends."""
    query = {"program": program, "channel": channel, "purpose": purpose}
    if campaign_id:
        query["campaign_id"] = campaign_id
    cursor: str | None = None
    while True:
        url = f"{target.url}{ROUTE}?{urlencode({**query, **({'cursor': cursor} if cursor else {})})}"
        request = AWSRequest(method="GET", url=url, data=b"")
        SigV4Auth(target.credentials, "execute-api", target.region).add_auth(request)
        page = _answer(_send("GET", url, dict(request.headers.items())))
        yield [str(i) for i in page.get("profile_ids", [])]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def write_ids(path: Path, pages: Iterator[list[str]]) -> int:
    """Created here, 0600, or refused: an audience is a list of customers, never left readable or overwritten."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FileExists(f"{path} exists: choose another file (an audience is never written over)") from None
    except OSError as error:
        raise ToolError(f"cannot create {path} ({error.strerror})") from None
    written = 0
    with os.fdopen(descriptor, "w") as file:
        for ids in pages:
            file.writelines(f"{i}\n" for i in ids)
            written += len(ids)
    return written


def api_key(args: argparse.Namespace) -> str:
    key = os.environ.get(API_KEY_VARIABLE)
    if key:
        return key
    if args.local or (args.url and urlparse(args.url).hostname in _LOOPBACK):
        logical = LOCAL_API_KEYS.get(args.channel)
        if logical:
            return f"local-key-{logical}"
    raise ToolError(f"--decide needs the {args.channel} channel's API key in {API_KEY_VARIABLE}")


def decide(
    target: Target,
    channel: str,
    purpose: str,
    campaign_id: str,
    reserve: bool,
    pages: Iterator[list[str]],
    key: str,
) -> dict[str, Any]:
    """Contact decisions for every id, 1,000 a request; the counts of allowed and of each refusal's reason."""
    reasons: Counter[str] = Counter()
    asked = requests_sent = 0
    pending: list[str] = []

    def ask(ids: list[str]) -> None:
        nonlocal asked, requests_sent
        body = {
            "purpose": purpose,
            "campaign_id": campaign_id,
            "reserve": reserve,
            "recipients": [{"profile_id": i} for i in ids],
        }
        url = f"{target.url}/v1/{channel}/contact-decisions"
        headers = {"Content-Type": "application/json", "x-api-key": key}
        answer = _answer(_send("POST", url, headers, json.dumps(body).encode()))
        for decision in answer.get("decisions", []):
            reasons["allowed" if decision.get("allowed") else str(decision.get("reason"))] += 1
        asked += len(ids)
        requests_sent += 1

    for ids in pages:
        pending += ids
        while len(pending) >= CHUNK:
            ask(pending[:CHUNK])
            pending = pending[CHUNK:]
    if pending:
        ask(pending)
    return {
        "channel": channel,
        "purpose": purpose,
        "campaign_id": campaign_id,
        "reserved": reserve,
        "profiles": asked,
        "requests": requests_sent,
        "allowed": reasons.pop("allowed", 0),
        "refused": dict(sorted(reasons.items())),
    }
