"""The main job, locally: every channel's touchpoints through the API, classified, summarised.

Starts the runner (embedded AWS, the template's functions, the stream poller) on a free port,
posts every sample in events/ and a multi-channel journey for each generated person over HTTP
with each channel's API key, waits until the classifier has caught up with the profile table's
stream, then prints each profile (subject id, token count, channels, state, missing dimensions,
top recommendation), the state distribution and the migration funnel (who moved from which state to
which, by which channel and action). Then the program loop (demo_programs): a program's audience pulled,
contact decisions within the caps, the emails recorded with program and campaign, some of the invited signing
up, the programs report; an email campaign to every profile and the contact-pressure report; and it writes the
HTML report (report_cli) next to the function logs. Personal data is posted, never printed.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from compliance_cli.credentials import local_target
from compliance_cli.errors import ToolError
from local_runner.commands.demo_contacts import CampaignFailed, run_campaign
from local_runner.commands.demo_data import DemoPerson, Touch, demo_person, journey, stack_secret, vouching_keys
from local_runner.commands.demo_programs import run_program_loop
from local_runner.emulator.principals import DEVELOPER, sign
from local_runner.emulator.runner import LocalRunner
from local_runner.emulator.server import ApiServer
from local_runner.emulator.template import REPO_ROOT
from report_cli.fetch import fetch_reports
from report_cli.html_report import write_report
from report_cli.render_html import render

EVENTS_DIR = REPO_ROOT / "events"
REPORT_ROUTE = "/v1/reports/profile-states"
FUNNEL_ROUTE = "/v1/reports/funnel"
STATE_MEANING = {
    "A": "I+C+T  known, reachable, traced",
    "B": "I+C    known, reachable",
    "C": "I+T    known, traced",
    "D": "C+T    reachable, traced",
    "E": "I      known only",
    "F": "C      reachable only",
    "G": "T      traced only",
    "U": "-      nothing usable yet",
}


class DemoFailed(Exception):
    """Something the demo needed did not happen; the message says what, without personal data."""


class Progress:
    """A text progress bar: redrawn in place on a terminal, a few plain lines otherwise (CI logs)."""

    def __init__(self, label: str, total: int, out: IO[str]) -> None:
        self.label, self.total, self.out = label, max(total, 1), out
        self.tty = out.isatty()
        self.done = 0
        self._last_decile = -1

    def update(self, done: int, note: str = "") -> None:
        self.done = min(done, self.total)
        filled = round(30 * self.done / self.total)
        line = f"  {self.label:<28} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {note}"
        if self.tty:
            self.out.write("\r" + line.ljust(100))
            self.out.flush()
            return
        decile = 10 * self.done // self.total
        if decile != self._last_decile and (decile % 5 == 0 or self.done == self.total):
            self._last_decile = decile
            print(line.rstrip(), file=self.out, flush=True)

    def finish(self, note: str = "") -> None:
        self.update(self.total, note)
        if self.tty:
            self.out.write("\n")


@dataclass
class Request:
    name: str
    method: str
    path: str
    body: str
    api_key: str
    as_write_key: bool = False  # an SDK's request: the key is HTTP Basic's user, as the SDK API's authorizer reads it
    after_settled: bool = False  # sent once the stream and queues have settled (Touch.later)
    person: int | None = None  # the demo person it is about (demo_data.demo_person)

    def headers(self) -> dict[str, str]:
        if self.as_write_key:
            credentials = base64.b64encode(f"{self.api_key}:".encode()).decode()
            return {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}
        return {"Content-Type": "application/json", "x-api-key": self.api_key}


def sample_requests(runner: LocalRunner) -> list[Request]:
    """Every events/ sample (an API Gateway event) as the HTTP request a channel would send."""
    assert runner.provisioned is not None
    keys = {key.key_id: key.value for key in runner.provisioned.api_keys.values()}
    requests_ = []
    for path in sorted(EVENTS_DIR.glob("*.json")):
        event = json.loads(path.read_text())
        if "httpMethod" not in event:
            continue  # not an API event (e.g. a stream or queue sample)
        key_id = ((event.get("requestContext") or {}).get("identity") or {}).get("apiKeyId")
        if key_id not in keys:
            continue  # an IAM route's sample: the demo posts channel traffic only
        sent_by_sdk = any(k.lower() == "authorization" for k in (event.get("headers") or {}))
        body = event.get("body") or ""
        requests_.append(Request(path.stem, event["httpMethod"], event["path"], body, keys[key_id], sent_by_sdk))
    return requests_


def journey_requests(runner: LocalRunner, people: int) -> list[Request]:
    assert runner.provisioned is not None
    key_of_function = {
        route.function: runner.provisioned.environment(runner.specs[route.function], overrides={}).get(
            "CHANNEL_API_KEY_ID"
        )
        for route in runner.gateway.routes.routes  # type: ignore[union-attr]
    }
    keys = {key.key_id: key.value for key in runner.provisioned.api_keys.values()}

    def key_for(touch: Touch) -> str:
        matched = runner.gateway.routes.match("POST", touch.path)  # type: ignore[union-attr]
        if matched is None:
            raise DemoFailed(f"the template has no route for {touch.path}")
        return keys[str(key_of_function[matched[0].function])]

    vouching_key = vouching_keys(stack_secret(runner.aws.client("secretsmanager")))
    return [
        Request(
            f"person {n} {touch.channel}",
            "POST",
            touch.path,
            json.dumps(touch.signed(vouching_key)),
            key_for(touch),
            after_settled=touch.later,
            person=n,
        )
        for n in range(people)
        for touch in journey(demo_person(n))
    ]


def _functions_used(runner: LocalRunner, batch: list[Request]) -> list[str]:
    assert runner.gateway is not None
    routed = {m[0].function for r in batch if (m := runner.gateway.routes.match(r.method, r.path))}
    report = runner.gateway.routes.match("GET", REPORT_ROUTE)
    streams = {name for name, spec in runner.specs.items() if spec.streams}
    return sorted(routed | streams | ({report[0].function} if report else set()))


@dataclass
class Sent:
    by_channel: Counter[str]
    people_of: dict[str, DemoPerson]  # the demo people by the profile id a private channel answered for them


def send_all(base_url: str, batch: list[Request], out: IO[str], settle: Callable[[], object]) -> Sent:
    progress = Progress("posting touchpoints", len(batch), out)
    by_channel: Counter[str] = Counter()
    people_of: dict[str, DemoPerson] = {}
    with requests.Session() as http:
        for done, request in enumerate(batch, 1):
            if request.after_settled:
                settle()
            response = http.request(
                request.method,
                base_url + request.path,
                data=request.body.encode(),
                headers=request.headers(),
                timeout=60,
            )
            if response.status_code != 200:
                code = _error_code(response)
                raise DemoFailed(
                    f"{request.name}: {request.method} {request.path} answered {response.status_code} {code}"
                )
            by_channel[request.path.split("/")[2]] += 1
            if request.person is not None:
                for result in response.json().get("results", []):
                    if result.get("profile_id"):
                        people_of[result["profile_id"]] = demo_person(request.person)
            progress.update(done, request.path.split("/")[2])
    progress.finish()
    return Sent(by_channel, people_of)


def _error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str((body.get("error") or {}).get("code") or body.get("message") or "")


def profiles(runner: LocalRunner) -> list[dict[str, Any]]:
    """The profile items of the profile table (never their encrypted fields)."""
    assert runner.provisioned is not None
    table = runner.provisioned.tables["ProfileTable"]
    dynamodb = runner.aws.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "FilterExpression": "sk = :profile",
        "ExpressionAttributeValues": {":profile": {"S": "PROFILE"}},
    }
    while True:
        page = dynamodb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


IDENTITY_LOG_ROUTE = "/v1/compliance/identity-log"
IDENTITY_REVIEWER = "ComplianceOperatorRole"  # the role that reviews merges and conflicts


def identity_log(runner: LocalRunner, base_url: str) -> list[dict[str, Any]]:
    """Today's merges and conflicts from the compliance route (subject ids, kinds, rule; no personal data)."""
    entries: list[dict[str, Any]] = []
    for kind in ("merge", "conflict"):
        next_token: str | None = ""
        while next_token is not None:
            query = f"?kind={kind}" + (f"&next_token={next_token}" if next_token else "")
            page = _signed_get(runner, base_url, IDENTITY_LOG_ROUTE + query, as_principal=IDENTITY_REVIEWER)
            if page is None:
                return entries
            entries.extend(page["entries"])
            next_token = page["next_token"]
    return entries


def print_identity_log(entries: list[dict[str, Any]], out: IO[str]) -> None:
    merges = [e for e in entries if e["kind"] == "merge"]
    conflicts = [e for e in entries if e["kind"] == "conflict"]
    print(
        f"\nIdentity resolution (GET {IDENTITY_LOG_ROUTE}): {len(merges)} merge(s), {len(conflicts)} conflict(s) "
        "kept apart:",
        file=out,
    )
    for entry in sorted(merges + conflicts, key=lambda e: e["at"]):
        others = ",".join(entry["subjects"]) or "-"
        kinds = ",".join(entry["kinds"]) or "-"
        print(
            f"  {entry['kind']:<8} {others} -> {entry['survivor']}  by {kinds:<14} {entry['rule']}  "
            f"{entry.get('state', 'kept apart')}",
            file=out,
        )


def _active(item: dict[str, Any]) -> bool:
    """Merged-away profiles are tombstones: the classifier leaves them, and so do the demo's lists."""
    return item.get("status", {}).get("S") == "active"


def _classified(item: dict[str, Any]) -> bool:
    return "state" in item and item.get("classified_version", {}).get("N") == item.get("version", {}).get("N")


def wait_for_classifier(runner: LocalRunner, out: IO[str], timeout: float = 45.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    items = [i for i in profiles(runner) if _active(i)]
    progress = Progress("classifying (stream)", len(items), out)
    while time.monotonic() < deadline:
        items = [i for i in profiles(runner) if _active(i)]
        progress.total = max(len(items), 1)
        classified = sum(1 for item in items if _classified(item))
        progress.update(classified)
        if classified == len(items) and runner.wait_until_idle(timeout=5, quiet=0.5):
            items = [i for i in profiles(runner) if _active(i)]
            if all(_classified(item) for item in items):
                progress.finish()
                return items
        time.sleep(0.2)
    raise DemoFailed("the classifier did not classify every profile in time (see the function logs)")


def _signed_get(runner: LocalRunner, base_url: str, route: str, as_principal: str = DEVELOPER) -> dict[str, Any] | None:
    """A report route's answer, signed as the local developer (or a template role); None when there is no route."""
    if runner.gateway is None or not runner.gateway.routes.match("GET", route.partition("?")[0]):
        return None
    caller = next(p for p in runner.principals.values() if p.name == as_principal)
    url = base_url + route
    response = requests.get(url, headers=sign(caller, "GET", url), timeout=60)
    if response.status_code != 200:
        raise DemoFailed(f"GET {route} answered {response.status_code} {_error_code(response)}")
    return dict(response.json())


def state_report(runner: LocalRunner, base_url: str, items: list[dict[str, Any]]) -> tuple[dict[str, int], str]:
    """The distribution from the report route (signed as the local developer), else counted from the table."""
    report = _signed_get(runner, base_url, REPORT_ROUTE)
    if report is not None:
        return dict(report["by_state"]), f"GET {REPORT_ROUTE}"
    return dict(Counter(item["state"]["S"] for item in items)), "the profile table"


def funnel_report(runner: LocalRunner, base_url: str) -> list[dict[str, Any]]:
    """The funnel's moves over its default range (the last 30 days), or none when the template has no route."""
    report = _signed_get(runner, base_url, FUNNEL_ROUTE)
    return [] if report is None else list(report["totals"])


def _strings(item: dict[str, Any], name: str) -> list[str]:
    value = item.get(name) or {}
    if "SS" in value:
        return sorted(value["SS"])
    return [v.get("S", "") for v in value.get("L", [])]


def _tokens_held(item: dict[str, Any]) -> int:
    """How many identifiers the profile links: its per-kind counters (touchpoints.items.profile.LINK_COUNTERS; the
    runner's own process does not load the layer), since the tokens are items of their own."""
    return sum(int(value["N"]) for name, value in item.items() if name.startswith("links_") and "N" in value)


def print_profiles(items: list[dict[str, Any]], out: IO[str]) -> None:
    channels = {id(item): ",".join(_strings(item, "channels")) for item in items}
    width = max([len("channels"), *map(len, channels.values())])
    header = f"  {'subject id':<38} {'tokens':>6}  {'channels':<{width}} {'state':<5} {'missing':<8} top recommendation"
    print(header, file=out)
    print("  " + "-" * (len(header) - 2), file=out)
    for item in sorted(items, key=lambda i: (i["state"]["S"], i["subject_id"]["S"])):
        missing = "".join(_strings(item, "missing")) or "-"
        recommendation = (_strings(item, "recommendations") or ["-"])[0]
        print(
            f"  {item['subject_id']['S']:<38} {_tokens_held(item):>6}  "
            f"{channels[id(item)]:<{width}} {item['state']['S']:<5} {missing:<8} {recommendation}",
            file=out,
        )


def print_distribution(by_state: dict[str, int], source: str, out: IO[str]) -> None:
    total = sum(by_state.values()) or 1
    print(f"\nState distribution ({source}):", file=out)
    for state, meaning in STATE_MEANING.items():
        count = by_state.get(state, 0)
        print(f"  {state}  {meaning:<32} {'#' * round(30 * count / total):<30} {count}", file=out)
    print(f"  total {sum(by_state.values())} profiles", file=out)


def print_funnel(moves: list[dict[str, Any]], out: IO[str]) -> None:
    print(
        f"\nMigration funnel (GET {FUNNEL_ROUTE}, last 30 days; none = new profile, gone = erased or merged):", file=out
    )
    if not moves:
        print("  no moves", file=out)
    for move in sorted(moves, key=lambda m: (-m["profiles"], m["from"], m["to"], m["channel"], m["action"])):
        arrow = f"{move['from']} -> {move['to']}"
        print(f"  {arrow:<12} by {move['channel']:<15} {move['action']:<22} {move['profiles']:>4}", file=out)


def print_profiles_and_distribution(
    items: list[dict[str, Any]], by_channel: Counter[str], by_state: dict[str, int], source: str, out: IO[str]
) -> None:
    sent = ", ".join(f"{c} {n}" for c, n in sorted(by_channel.items()))
    print(f"\nSent {sum(by_channel.values())} requests: {sent}", file=out)
    print(f"\nProfiles ({len(items)}; tokens and states only, no personal data):", file=out)
    print_profiles(items, out)
    print_distribution(by_state, source, out)


def write_html_report(base_url: str, path: Path) -> Path:
    """What `python -m report_cli html` writes, from the demo's runner, read as the local developer."""
    reports = fetch_reports(local_target(base_url, DEVELOPER))
    return write_report(path, render(reports.as_dict()), replace=True)


def run(people: int = 6, out: IO[str] = sys.stdout) -> int:
    """Run the demo; 0 when every touchpoint was stored and every profile classified."""
    started = time.monotonic()
    log_path = Path(tempfile.mkdtemp(prefix="touchpoints-demo-")) / "functions.log"
    print("Touchpoint ingestion, run locally from template.yaml: embedded AWS (moto), no Docker.", file=out)
    try:
        with log_path.open("w") as function_log, LocalRunner(function_output=function_log) as runner:
            assert runner.pool is not None
            batch = sample_requests(runner) + journey_requests(runner, people)
            runner.pool.warm(_functions_used(runner, batch))  # their imports run in parallel meanwhile
            server = ApiServer(runner, port=0, access_log=False).start()
            try:
                print(f"  API on {server.url}; AWS: {runner.aws.describe()}", file=out)
                print(f"  functions: {len(runner.specs)}; function logs: {log_path}", file=out)
                sent = send_all(server.url, batch, out, settle=runner.wait_until_idle)
                items = wait_for_classifier(runner, out)
                by_state, source = state_report(runner, server.url, items)
                resolutions = identity_log(runner, server.url)
                moves = funnel_report(runner, server.url)
                print_profiles_and_distribution(items, sent.by_channel, by_state, source, out)
                print_identity_log(resolutions, out)
                print_funnel(moves, out)
                run_program_loop(runner, server.url, sent.people_of, runner.wait_until_idle, out)
                run_campaign(runner, server.url, sorted(i["subject_id"]["S"] for i in items), out)
                report = write_html_report(server.url, log_path.parent / "report.html")
            finally:
                server.stop()
    except (DemoFailed, CampaignFailed, ToolError, requests.RequestException, OSError) as failure:
        print(f"\nDEMO FAILED: {failure}\nFunction logs: {log_path}", file=sys.stderr)
        return 1
    print(f"\nDone in {time.monotonic() - started:.1f} s.", file=out)
    print(f"HTML report (the I/C/T diagram, funnel, programs, data quality, contact pressure): {report}", file=out)
    return 0
