"""Journey of the marketing team reading the migration funnel, over HTTP through the local runner.

A cash buyer (G) registers the ticket on the web and becomes A; later the person asks to be erased.
Each step waits for the stream's classifier (and the erasure worker) before the next one runs; the
funnel and the distribution are read by a developer's IAM identity, as a business user would.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii, wait_for
from tests.people import person

pytestmark = pytest.mark.e2e

OPERATOR = "ComplianceOperatorRole"


def stored(runner: Runner, channel: str, body: dict[str, Any]) -> str:
    response = runner.post(channel, body)
    assert response.status_code == 200, response.text
    return str(response.json()["results"][0]["profile_id"])


def today_moves(runner: Runner) -> Counter[tuple[str, str, str, str]]:
    today = datetime.now(UTC).date().isoformat()
    response = runner.signed("developer", "GET", f"/v1/reports/funnel?from={today}&to={today}")
    assert response.status_code == 200, response.text
    assert_no_pii(response.text, "the funnel")
    totals = response.json()["totals"]
    return Counter({(t["from"], t["to"], t["channel"], t["action"]): t["profiles"] for t in totals})


def by_state(runner: Runner) -> dict[str, int]:
    response = runner.signed("developer", "GET", "/v1/reports/profile-states")
    assert response.status_code == 200, response.text
    return dict(response.json()["by_state"])


def test_a_cash_buyer_moving_to_a_then_erased_shows_in_the_funnel_by_channel_and_action(runner: Runner) -> None:
    p = person(4500)
    before, states_before = today_moves(runner), by_state(runner)

    # Given a cash buyer at a store, classified G
    buyer = stored(runner, "store", factories.store(None, folio="F-4500"))
    assert runner.classified(buyer)["state"]["S"] == "G"
    # When the buyer registers the ticket on the web with name, email and consent
    registration = factories.web(
        p,
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": "F-4500"},
        customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
    )
    assert stored(runner, "web", registration) == buyer
    assert runner.classified(buyer)["state"]["S"] == "A"

    # Then the funnel shows the arrival by the store's purchase and the move to A by the web's ticket registration
    moved = today_moves(runner) - before
    assert moved == {("none", "G", "store", "purchase"): 1, ("G", "A", "web", "ticket_registration"): 1}
    states = by_state(runner)
    assert (states["A"] - states_before["A"], states["G"] - states_before["G"]) == (1, 0)

    # When the person asks to be erased, and the worker carries it out
    request = {"subject": {"email": p.email}, "regulation": "gdpr", "case_reference": "CASE-FUNNEL-4500"}
    accepted = runner.signed(OPERATOR, "POST", "/v1/compliance/erasures", request)
    assert accepted.status_code == 202, accepted.text
    runner.completed(OPERATOR, accepted.headers["Location"])

    # Then the profile leaves the distribution once, and the funnel counts its departure
    def departed() -> Counter[tuple[str, str, str, str]] | None:
        moved = today_moves(runner) - before
        return moved if moved[("A", "gone", "compliance", "erasure")] else None

    assert wait_for(departed, 30, "the erasure in the funnel")[("A", "gone", "compliance", "erasure")] == 1
    assert by_state(runner) == states_before
