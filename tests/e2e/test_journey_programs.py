"""Journey of a migration program over HTTP through the local runner (issue 25): a campaign emails a cash buyer, the
buyer registers the ticket on the web for that campaign; once every asynchronous part settled, the programs report
counts the contact sent and the move credited to the program and campaign (by the touchpoint, and after the
contact), and the funnel still shows the move by channel and action. An unknown program is refused by name."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from tests import factories
from tests.contact_helpers import contact
from tests.e2e.conftest import Runner, assert_no_pii
from tests.people import person

pytestmark = pytest.mark.e2e

PROGRAM, CAMPAIGN = "ticket_registration", "bf-2026-e2e"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def report(runner: Runner, route: str) -> dict[str, Any]:
    response = runner.signed("developer", "GET", f"/v1/reports/{route}?from={today()}&to={today()}")
    assert response.status_code == 200, response.text
    assert_no_pii(response.text, f"the {route} report")
    return dict(response.json())


def funnel(runner: Runner) -> Counter[tuple[str, str, str, str]]:
    return Counter(
        {(t["from"], t["to"], t["channel"], t["action"]): t["profiles"] for t in report(runner, "funnel")["totals"]}
    )


def test_a_campaigns_contact_and_the_move_it_led_to_are_counted_in_the_programs_report(runner: Runner) -> None:
    p = person(4600)
    funnel_before = funnel(runner)

    # An unknown program is refused, naming the field
    refused = runner.post("store", {**factories.store(None, folio="F-4599"), "program": "free_money"})
    assert refused.status_code == 422, refused.text
    details = refused.json()["error"]["details"]
    assert [(d["loc"][-1], d["code"]) for d in details] == [("program", "unknown_program")]
    assert "free_money" not in refused.text

    # Given a cash buyer at a store (G), and the campaign's email recorded as sent to the buyer
    purchase = factories.store(None, folio="F-4600")
    buyer = runner.stored_on("store", runner.post("store", purchase), purchase)
    assert runner.classified(buyer)["state"]["S"] == "G"
    sent = contact({"profile_id": buyer}, "email", campaign=CAMPAIGN, program=PROGRAM)
    recorded = runner.post("email", {"contacts": [sent]}, resource="contacts")
    assert recorded.status_code == 200 and recorded.json()["results"][0]["status"] == "stored", recorded.text

    # When the buyer registers the ticket on the web for the campaign (the back end vouching for the email)
    registration = factories.web(
        p,
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": "F-4600"},
        customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
    )
    registration = factories.vouched(
        {**registration, "program": PROGRAM, "campaign_id": CAMPAIGN}, "web", runner.tokenizer(), email=p.email
    )
    assert runner.stored_on("web", runner.post("web", registration), registration) == buyer
    assert runner.classified(buyer)["state"]["S"] == "A"

    # Then the programs report counts exactly what was sent and what moved, for this program and campaign
    body = report(runner, "programs")
    assert (body["from"], body["to"]) == (today(), today()) and body["attribution_days"] > 0
    mine = [e for e in body["programs"] if (e["program"], e["campaign_id"]) == (PROGRAM, CAMPAIGN)]
    assert len(mine) == 1
    assert {k: v for k, v in mine[0].items() if k != "audience_pulled"} == {
        "program": PROGRAM,
        "campaign_id": CAMPAIGN,
        "contacts_sent": 1,
        "contacts_by_channel": {"email": 1},
        "moved": 1,
        "moves": [{"from": "G", "to": "A", "channel": "web", "count": 1}],
        "moved_after_contact": 1,
        "moved_after_contact_by_channel": {"email": 1},
    }
    # ... and the funnel shows the same moves by channel and action as before programs existed
    assert funnel(runner) - funnel_before == {
        ("none", "G", "store", "purchase"): 1,
        ("G", "A", "web", "ticket_registration"): 1,
    }

    # When the loyalty program pulls its email audience for a campaign (a web sign-up with marketing consent: A)
    member = person(4601)
    signed_up = factories.web(member)
    assert runner.classified(runner.stored_on("web", runner.post("web", signed_up), signed_up))["state"]["S"] == "A"
    query = "program=loyalty&channel=email&purpose=marketing&campaign_id=" + CAMPAIGN
    page = runner.signed("developer", "GET", f"/v1/reports/audiences?{query}")
    assert page.status_code == 200, page.text
    assert page.json()["count"] >= 1
    # Then the programs report counts the ids pulled for that program and campaign
    loyalty = [
        e for e in report(runner, "programs")["programs"] if (e["program"], e["campaign_id"]) == ("loyalty", CAMPAIGN)
    ]
    assert [e["audience_pulled"] for e in loyalty] == [page.json()["count"]]

    # A range the report refuses is a 422 naming the parameter
    wrong = runner.signed("developer", "GET", "/v1/reports/programs?from=2026-12-01&to=2026-11-01")
    assert wrong.status_code == 422 and "date_range" in wrong.text, wrong.text
