"""`python -m report_cli html`: the self-contained HTML report (one file, no script, no external resource) drawn
from the report APIs: the I/C/T diagram, states over time, the funnel, programs, data quality, contact pressure.

    python -m report_cli html --local                          # the runner of `make serve` (http://127.0.0.1:3000)
    python -m report_cli html --url http://127.0.0.1:3000      # a loopback URL: a local runner, its local keys
    python -m report_cli html --stack NAME [--profile P]       # a deployed stack: its ApiUrl, your IAM identity

The report holds counts, state letters, channel, action, program and campaign names only (no personal data), so
it is written 0644; an existing file is replaced only with --force. The path is printed on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from compliance_cli.credentials import Target, local_target, stack_target
from compliance_cli.errors import FileExists, ToolError, Unavailable
from report_cli.fetch import DEFAULT_DAYS, fetch_reports
from report_cli.render_html import render

LOCAL_URL = "http://127.0.0.1:3000"
LOCAL_READER = "developer"  # any IAM caller may read the reports; locally the runner's plain IAM user
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def register(groups: Any) -> None:
    command: argparse.ArgumentParser = groups.add_parser(
        "html", help="write the HTML report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = command.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help=f"the local runner at {LOCAL_URL} (`make serve`)")
    where.add_argument("--url", help="the API's base URL; a loopback URL is a local runner")
    where.add_argument("--stack", help="a deployed stack's name: its ApiUrl output")
    command.add_argument("--profile", help="your AWS profile (default: the default credentials chain)")
    command.add_argument("--region", help="the stack's region (default: the profile's)")
    command.add_argument("--as", dest="principal", default=LOCAL_READER, help="local runner only: who signs")
    command.add_argument("--days", type=int, default=DEFAULT_DAYS, help="the period, ending today (1-366)")
    command.add_argument("--out", type=Path, default=Path("report.html"), help="the file to write")
    command.add_argument("--force", action="store_true", help="replace the file if it exists")
    command.set_defaults(run=run)


def target_of(arguments: argparse.Namespace) -> Target:
    url = LOCAL_URL if arguments.local else arguments.url
    if url and urlparse(url).hostname in _LOOPBACK:
        return local_target(url, arguments.principal)
    # A business user's own IAM identity (execute-api:Invoke on /v1/reports/*): no role to assume.
    return stack_target(
        stack=arguments.stack,
        url=url,
        profile=arguments.profile,
        region=arguments.region,
        role_arn=None,
        mfa_serial=None,
        mfa_code=None,
        assume=False,
    )


def write_report(path: Path, html: str, *, replace: bool) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o644)
    except FileExistsError:
        raise FileExists(f"{path} exists: choose another file or pass --force to replace it") from None
    except OSError as error:
        raise ToolError(f"cannot write {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(html)
    return path.resolve()


def run(arguments: argparse.Namespace) -> int:
    if not 1 <= arguments.days <= 366:
        print("report html: --days is between 1 and 366", file=sys.stderr)
        return 2
    try:
        reports = fetch_reports(target_of(arguments), days=arguments.days)
        written = write_report(arguments.out, render(reports.as_dict()), replace=arguments.force)
    except ToolError as error:
        hint = "; start it with `make serve`" if isinstance(error, Unavailable) and arguments.local else ""
        print(f"report html: {error.message}{hint}", file=sys.stderr)
        return int(error.exit_code)
    print(written)
    return 0
