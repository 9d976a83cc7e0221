"""Journey of a campaign's audience over HTTP through the local runner: people met on the channels are classified,
the audience of a program lists exactly those recommended it and reachable on the channel for the purpose, and the
reports tool writes it to a 0600 file or streams it into contact decisions."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from report_cli.cli import main as report
from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii, wait_for
from tests.people import person

pytestmark = pytest.mark.e2e
PROGRAM = "ticket_registration"


def audience(runner: Runner, **query: str) -> tuple[int, dict[str, Any]]:
    response = runner.signed("developer", "GET", f"/v1/reports/audiences?{urlencode(query)}")
    assert_no_pii(response.text, "an audience page")
    return response.status_code, response.json()


def every_id(runner: Runner, channel: str, purpose: str = "marketing") -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        query = {"program": PROGRAM, "channel": channel, "purpose": purpose, **({"cursor": cursor} if cursor else {})}
        status, page = audience(runner, **query)
        assert status == 200, page
        ids |= set(page["profile_ids"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_the_audience_lists_exactly_the_reachable_recommended_and_the_tool_takes_it(
    runner: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = [person(n) for n in range(660, 663)]
    app_user = runner.stored_on("app", runner.post("app", app_body := factories.app(p[0])), app_body)
    cash_buyer = runner.stored_on("store", runner.post("store", buyer := factories.store(None, folio="F-9301")), buyer)
    unsubscribed = runner.stored_on("app", runner.post("app", other := factories.app(p[1])), other)
    runner.post("email", factories.email(p[1], event="unsubscribe", occurred_at=factories.occurred(10)))
    for subject in (app_user, cash_buyer, unsubscribed):
        runner.classified(subject)

    wait_for(lambda: every_id(runner, "email") == {app_user}, 30, "the email audience to settle")
    assert every_id(runner, "push") == {app_user, unsubscribed}  # the unsubscribe was from email only
    assert every_id(runner, "sms") == set()  # nobody gave a phone

    status, refused = audience(runner, program="nope", channel="email", purpose="marketing")
    assert status == 422 and "unknown_program" in json.dumps(refused)

    out = tmp_path / "audience.txt"
    where = ["audience", "--url", runner.url, "--program", PROGRAM, "--channel", "push", "--purpose", "marketing"]
    assert report([*where, "--campaign-id", "buen-fin-2026", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert set(out.read_text().split()) == {app_user, unsubscribed}
    assert report([*where, "--out", str(out)]) == 11  # never written over

    capsys.readouterr()
    assert report([*where, "--campaign-id", "buen-fin-2026", "--decide"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["profiles"] == 2 and summary["requests"] == 1
    assert summary["allowed"] + sum(summary["refused"].values()) == 2
    assert not {"no_consent", "not_contactable_on_channel", "suppressed"} & set(summary["refused"])
