"""A business user opens the HTML report in a real browser: headless Chromium (Debian's package, driven by
playwright-core from tests/node, JavaScript off) opens the runner's /reports after a few people were classified
into different states. The page loads with no console error and asks no other host for anything, every number it
shows equals the report APIs' JSON read by the test, and a screenshot is saved for a person to look at.
`python -m report_cli html --url` writes the same page to a file."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from report_cli.cli import main
from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii
from tests.e2e.test_sdk_browser import NODE, chromium
from tests.people import person

pytestmark = pytest.mark.e2e

PERIOD_DAYS = 30  # the report's default period, and the one these reads ask for


def report(runner: Runner, route: str) -> dict[str, Any] | None:
    answer = runner.signed("developer", "GET", route)
    if answer.status_code == 403 and answer.json().get("message") == "Missing Authentication Token":
        return None  # a route this stack does not have (the programs report before it is deployed)
    assert answer.status_code == 200, (route, answer.text)
    assert_no_pii(answer.text, route)
    return dict(answer.json())


def open_report(url: str, hosts: list[str], screenshot: Path) -> dict[str, Any]:
    request = {"url": url, "hosts": hosts, "executablePath": chromium(), "screenshot": str(screenshot)}
    result = subprocess.run(
        ["node", "report_page.mjs"],
        cwd=NODE,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def by_id(numbers: list[dict[str, Any]]) -> dict[str, int]:
    return {n["id"]: int(n["data"]["count"]) for n in numbers if n["id"]}


def rows(numbers: list[dict[str, Any]], css: str, *keys: str) -> dict[tuple[str, ...], int]:
    found = [n for n in numbers if n["class"] == css]
    shown = {tuple(n["data"][k] for k in keys): int(n["data"]["count"]) for n in found}
    assert len(shown) == len(found), f"one {css} row per {keys}"
    return shown


def test_the_report_in_chromium_shows_the_apis_numbers_without_errors(
    runner: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    # Given a few people in different states: a cash buyer (T), a caller (C, T), known buyers (I, C, T), classified
    seeded = [
        ("store", factories.store(None, folio="F-4901")),
        ("contact-center", factories.contact_center(person(4902))),
        ("store", factories.store(person(4903), folio="F-4903")),
        ("web", factories.web(person(4904))),
    ]
    subjects = [runner.stored_on(channel, runner.post(channel, body), body) for channel, body in seeded]
    states = {runner.classified(subject)["state"]["S"] for subject in subjects}
    assert len(states) >= 2, states
    # ... and every stream batch and queue settled, so the counters the reports read stay still while compared
    runner.settled(30)
    seeding = time.monotonic() - started

    # When a business user opens the runner's /reports in Chromium
    screenshot = tmp_path / "report.png"
    page = open_report(f"{runner.url}/reports", [urlsplit(runner.url).netloc], screenshot)

    # Then it loads without an error, fetches nothing, and is saved for a person to look at
    assert page["status"] == 200 and page["errors"] == [] and page["outside"] == [], page
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    with capsys.disabled():
        print(f"\nreport screenshot: {screenshot}")
    assert_no_pii(json.dumps(page), "the report page")

    # ... and every number it shows is the APIs' own
    today = time.strftime("%Y-%m-%d", time.gmtime())
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - (PERIOD_DAYS - 1) * 86400))
    window = f"?from={start}&to={today}"
    states_json = report(runner, "/v1/reports/profile-states")
    funnel = report(runner, f"/v1/reports/funnel{window}")
    quality = report(runner, f"/v1/reports/data-quality{window}")
    pressure = report(runner, "/v1/reports/contact-pressure")
    programs = report(runner, f"/v1/reports/programs{window}")
    assert states_json and funnel and quality and pressure
    numbers = page["numbers"]
    shown = by_id(numbers)
    assert {s: shown[f"venn-{s}"] for s in states_json["by_state"]} == states_json["by_state"]
    assert shown["figure-total"] == states_json["total"] and shown["figure-a"] == states_json["by_state"]["A"]
    moves = {(t["from"], t["to"], t["channel"], t["action"]): t["profiles"] for t in funnel["totals"]}
    assert rows(numbers, "move", "from", "to", "channel", "action") == moves
    flows: dict[tuple[str, ...], int] = {}
    for (a, b, _, _), n in moves.items():
        flows[(a, b)] = flows.get((a, b), 0) + n
    assert rows(numbers, "flow", "from", "to") == flows
    touched = {(t["channel"], t["action"]): t["touchpoints"] for t in quality["touchpoints"]}
    assert rows(numbers, "quality", "channel", "action") == touched
    hits = {(h["channel"], h["campaign_id"]): h["hits"] for h in pressure["cap_hits"]["by_channel_and_campaign"]}
    assert rows(numbers, "cap-hit", "channel", "campaign") == hits
    assert shown["figure-contacted"] == pressure["people_contacted"]["last_30_days"]
    if programs is None:
        assert "Not available" in open_text(runner)
    else:
        sent = {(p["program"], p["campaign_id"] or ""): p["contacts_sent"] for p in programs["programs"]}
        drawn = [n for n in numbers if "program" in n["data"]]
        assert {(n["data"]["program"], n["data"]["campaign"]): int(n["data"]["sent"]) for n in drawn} == sent

    # When the tool writes it to a file (a loopback URL: the runner's local keys), it holds the same counts
    out = tmp_path / "report.html"
    assert main(["html", "--url", runner.url, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    html = out.read_text()
    assert dict(re.findall(r'id="venn-([A-GU])" class="region" data-state="\1" data-count="(\d+)"', html)) == {
        s: str(n) for s, n in states_json["by_state"].items()
    }
    print(f"report in chromium: {time.monotonic() - started:.1f} s (seeding and classifying {seeding:.1f} s)")


def open_text(runner: Runner) -> str:
    return requests.get(f"{runner.url}/reports", timeout=60).text
