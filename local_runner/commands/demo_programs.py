"""The demo's program loop, as a marketing team runs it: pull a program's audience (the people the classifier
recommends it for, reachable by email with marketing consent), ask contact decisions for them within the caps,
record the emails sent with the program and campaign, let some of the invited sign up, then read the programs
report: who moved, to which state, credited to which program and campaign. Over HTTP with channel keys and the
local developer's IAM signature; ids and counts are printed, never a personal value."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlencode

import requests

from local_runner.commands.demo_contacts import CampaignFailed, channel_key
from local_runner.commands.demo_data import DemoPerson, program_registration, stack_secret, vouching_keys
from local_runner.emulator.principals import DEVELOPER, sign
from local_runner.emulator.runner import LocalRunner

AUDIENCES_ROUTE = "/v1/reports/audiences"
PROGRAMS_ROUTE = "/v1/reports/programs"
DECISIONS_ROUTE = "/v1/email/contact-decisions"
CONTACTS_ROUTE = "/v1/email/contacts"
REGISTRATIONS_ROUTE = "/v1/web/touchpoints"
CAMPAIGN = "buen-fin-2026-registro"
# The programs that fill what the demo's people lack, in the order the team tries them: the first with an audience
PROGRAMS = ("ticket_registration", "digital_registration", "digital_draw", "subscription", "data_update")


@dataclass(frozen=True)
class LoopResult:
    program: str
    audience: int
    allowed: int
    registered: int
    report: Mapping[str, Any]


def _get(runner: LocalRunner, url: str) -> dict[str, Any]:
    developer = next(p for p in runner.principals.values() if p.name == DEVELOPER)
    response = requests.get(url, headers=sign(developer, "GET", url), timeout=60)
    if response.status_code != 200:
        raise CampaignFailed(f"GET {url.split('/v1/')[1].split('?', maxsplit=1)[0]} answered {response.status_code}")
    return dict(response.json())


def _post(http: requests.Session, url: str, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    response = http.post(
        url, data=json.dumps(body), headers={"Content-Type": "application/json", "x-api-key": key}, timeout=60
    )
    if response.status_code != 200:
        raise CampaignFailed(f"POST {url.split('/v1/')[1]} answered {response.status_code}")
    return dict(response.json())


def daytime_zone(now: datetime) -> str:
    """A time zone where it is early afternoon now: the demo's recipients live there, so that quiet hours (a
    campaign's real answer at night) do not stop the story whatever time the demo runs."""
    offset = (13 - now.hour + 12) % 24 - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def pull_audience(runner: LocalRunner, base_url: str, program: str) -> list[str]:
    """Every page of the program's email audience for marketing, counted for the campaign."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        query = {"program": program, "channel": "email", "purpose": "marketing", "campaign_id": CAMPAIGN}
        page = _get(
            runner, f"{base_url}{AUDIENCES_ROUTE}?{urlencode({**query, **({'cursor': cursor} if cursor else {})})}"
        )
        ids += page["profile_ids"]
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


def run_program_loop(
    runner: LocalRunner,
    base_url: str,
    people_of: Mapping[str, DemoPerson],
    settle: Callable[[], object],
    out: IO[str],
) -> LoopResult:
    """`people_of`: the demo people by the profile id their private channels answered (to send the sign-ups)."""
    program, audience = next(
        ((p, ids) for p in PROGRAMS if (ids := pull_audience(runner, base_url, p))), (PROGRAMS[0], [])
    )
    email_key, web_key = channel_key(runner, DECISIONS_ROUTE), channel_key(runner, REGISTRATIONS_ROUTE)
    vouching = vouching_keys(stack_secret(runner.aws.client("secretsmanager")))
    with requests.Session() as http:
        decisions: list[dict[str, Any]] = []
        for start in range(0, len(audience), 1000):
            body = {
                "purpose": "marketing",
                "campaign_id": CAMPAIGN,
                "reserve": True,
                "recipients": [
                    {"profile_id": p, "time_zone": daytime_zone(datetime.now(UTC))}
                    for p in audience[start : start + 1000]
                ],
            }
            decisions += _post(http, base_url + DECISIONS_ROUTE, email_key, body)["decisions"]
        allowed = [d for d in decisions if d["allowed"]]
        sent = [
            {
                "event_id": f"snt-{uuid.uuid4().hex[:16]}",
                "occurred_at": datetime.now(UTC).isoformat(),
                "subject": {"profile_id": d["profile_id"]},
                "kind": "email",
                "purpose": "marketing",
                "campaign_id": CAMPAIGN,
                "program": program,
                "reservation_id": d["reservation_id"],
            }
            for d in allowed
        ]
        for start in range(0, len(sent), 25):
            _post(http, base_url + CONTACTS_ROUTE, email_key, {"contacts": sent[start : start + 25]})
        settle()
        # Half of the invited (at least one) answer the campaign through the emailed link.
        invited = [people_of[d["profile_id"]] for d in allowed if d["profile_id"] in people_of]
        answering = invited[: max(1, len(invited) // 2)] if invited else []
        for person in answering:
            touch = program_registration(person, program, CAMPAIGN)
            _post(http, base_url + REGISTRATIONS_ROUTE, web_key, touch.signed(vouching))
    settle()
    today = datetime.now(UTC).date().isoformat()
    report = _get(runner, f"{base_url}{PROGRAMS_ROUTE}?{urlencode({'from': today, 'to': today})}")
    result = LoopResult(program, len(audience), len(allowed), len(answering), report)
    print_loop(result, out)
    return result


def print_loop(result: LoopResult, out: IO[str]) -> None:
    print(f"\nProgram loop: {result.program}, campaign {CAMPAIGN}:", file=out)
    print(f"  audience (GET {AUDIENCES_ROUTE}, email, marketing): {result.audience} profiles", file=out)
    print(f"  contact decisions allowed {result.allowed}; emails recorded with the program: {result.allowed}", file=out)
    print(f"  invited people who answered through the link ({result.program}): {result.registered}", file=out)
    rows = [r for r in result.report["programs"] if r["program"] == result.program and r["campaign_id"] == CAMPAIGN]
    print(f"  programs report (GET {PROGRAMS_ROUTE}, today):", file=out)
    for row in rows:
        moves = ", ".join(f"{m['from']}->{m['to']} {m['count']} ({m['channel']})" for m in row["moves"]) or "none"
        print(
            f"    pulled {row['audience_pulled']}, sent {row['contacts_sent']}, moved {row['moved']} [{moves}], "
            f"moved within {result.report['attribution_days']} days of a contact {row['moved_after_contact']}",
            file=out,
        )
    if not rows:
        print("    nothing credited to this campaign yet", file=out)
