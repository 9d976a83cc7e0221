"""The demo's last step: an email campaign asks before it sends, records what it sent, and marketing reads the
contact-pressure report. Over HTTP with the email channel's key and the local developer's IAM signature; profile
ids, reason codes and counts are printed, never a personal value."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import IO, Any

import requests

from local_runner.emulator.principals import DEVELOPER, sign
from local_runner.emulator.runner import LocalRunner

DECISIONS_ROUTE = "/v1/email/contact-decisions"
CONTACTS_ROUTE = "/v1/email/contacts"
PRESSURE_ROUTE = "/v1/reports/contact-pressure"


class CampaignFailed(Exception):
    """A contact route did not answer as it should; the message holds codes, never data."""


def channel_key(runner: LocalRunner, route: str) -> str:
    """The API key of the channel whose function serves `route`."""
    assert runner.provisioned is not None and runner.gateway is not None
    matched = runner.gateway.routes.match("POST", route)
    if matched is None:
        raise CampaignFailed(f"the template has no route for {route}")
    key_id = runner.provisioned.environment(runner.specs[matched[0].function], overrides={})["CHANNEL_API_KEY_ID"]
    return next(key.value for key in runner.provisioned.api_keys.values() if key.key_id == key_id)


def _post(http: requests.Session, url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(
        url, data=json.dumps(body), headers={"Content-Type": "application/json", "x-api-key": key}, timeout=60
    )
    if response.status_code != 200:
        raise CampaignFailed(f"POST {url.split('/v1/')[1]} answered {response.status_code}")
    return dict(response.json())


def _decide_and_send(
    http: requests.Session, base_url: str, key: str, subject_ids: list[str], purpose: str, campaign: str, kind: str
) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Reserve the campaign for everyone, then record the email sent to each person it allowed."""
    body = {
        "purpose": purpose,
        "campaign_id": campaign,
        "reserve": True,
        "recipients": [{"profile_id": s} for s in subject_ids],
    }
    decisions = _post(http, base_url + DECISIONS_ROUTE, key, body)["decisions"]
    outcomes = Counter(d.get("reason", "allowed") for d in decisions)
    sent = [
        {
            "event_id": f"snt-{uuid.uuid4().hex[:16]}",
            "occurred_at": datetime.now(UTC).isoformat(),
            "subject": {"profile_id": d["profile_id"]},
            "kind": kind,
            "purpose": purpose,
            "campaign_id": campaign,
            **({"reservation_id": d["reservation_id"]} if "reservation_id" in d else {}),
        }
        for d in decisions
        if d["allowed"]
    ]
    for start in range(0, len(sent), 25):
        _post(http, base_url + CONTACTS_ROUTE, key, {"contacts": sent[start : start + 25]})
    return outcomes, decisions


def run_campaign(runner: LocalRunner, base_url: str, subject_ids: list[str], out: IO[str]) -> None:
    """Ask, send, count; then print the contact-pressure report."""
    key = channel_key(runner, DECISIONS_ROUTE)
    with requests.Session() as http:
        # Receipts of store purchases (digital tickets) are service messages: no consent, caps or quiet hours.
        receipts, _ = _decide_and_send(http, base_url, key, subject_ids, "service", "digital-ticket", "email")
        campaign, decisions = _decide_and_send(http, base_url, key, subject_ids, "marketing", "buen-fin-2026", "email")
        # The same campaign asks again: whoever got it is now held by the caps
        again, _ = _decide_and_send(http, base_url, key, subject_ids, "marketing", "buen-fin-2026-reminder", "email")
    print(f"\nContact decisions (POST {DECISIONS_ROUTE}, {len(subject_ids)} profiles, reserve: true):", file=out)
    for label, outcomes in (
        ("service: digital-ticket receipts", receipts),
        ("marketing: buen-fin-2026", campaign),
        ("marketing: buen-fin-2026-reminder", again),
    ):
        print(f"  {label:<36} " + ", ".join(f"{r} {n}" for r, n in sorted(outcomes.items())), file=out)
    waiting = sorted({d["allowed_at"] for d in decisions if d.get("reason") == "quiet_hours" and d["allowed_at"]})
    if waiting:
        print(f"  (quiet hours in America/Mexico_City: allowed from {waiting[0]})", file=out)

    developer = next(p for p in runner.principals.values() if p.name == DEVELOPER)
    url = base_url + PRESSURE_ROUTE
    response = requests.get(url, headers=sign(developer, "GET", url), timeout=60)
    if response.status_code != 200:
        raise CampaignFailed(f"GET {PRESSURE_ROUTE} answered {response.status_code}")
    report = response.json()
    print(f"\nContact pressure (GET {PRESSURE_ROUTE}, policy {report['policy_version']}):", file=out)
    for window, people in report["people_by_contacts"].items():
        spread = ", ".join(f"{n} contact{'s' if n != '1' else ''}: {count}" for n, count in people.items()) or "none"
        print(f"  people by contacts sent, {window.replace('_', ' ')}: {spread}", file=out)
    caps = report["cap_hits"]["by_channel_and_campaign"]
    print(
        "  cap hits (30 days): "
        + (", ".join(f"{c['channel']}/{c['campaign_id']} {c['hits']}" for c in caps) or "none"),
        file=out,
    )
