"""Journey of the marketing team reading the migration funnel, over HTTP through the local runner.

A cash buyer (G) registers the ticket on the web and becomes A; later the person asks to be erased.
Each step waits for the stream's classifier (and the erasure worker) before the next one runs; the
funnel and the distribution are read by a developer's IAM identity, as a business user would. After a
few hundred touchpoints, the counters must equal a count of every profile item.
"""

from __future__ import annotations

import random
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
    return runner.stored_on(channel, runner.post(channel, body), body)


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
    # When the buyer registers the ticket on the web with name, email and consent (the web's back end vouching
    # for the email: a public channel's unvouched touchpoint would not reach an identified profile)
    registration = factories.web(
        p,
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": "F-4500"},
        customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
    )
    registration = factories.vouched(registration, "web", runner.tokenizer(), email=p.email)
    assert stored(runner, "web", registration) == buyer
    assert runner.subject_of("email", p.email) == buyer
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


def profile_items(runner: Runner) -> list[dict[str, Any]]:
    db, items = runner.dynamodb(), []
    request: dict[str, Any] = {
        "TableName": runner.health["tables"]["ProfileTable"],
        "ConsistentRead": True,
        "FilterExpression": "sk = :profile",
        "ExpressionAttributeValues": {":profile": {"S": "PROFILE"}},
    }
    while True:
        page = db.scan(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def every_profile_classified(runner: Runner) -> list[dict[str, Any]] | None:
    """Every profile item, once the classifier has classified every one's latest revision (else None)."""
    items = profile_items(runner)
    for item in items:
        if item["status"]["S"] != "active":
            continue
        if "classified_version" not in item or item["classified_version"]["N"] != item["version"]["N"]:
            return None
        if item["classified_consent_version"]["N"] != item["consent_version"]["N"]:
            return None
    return items


def test_after_a_few_hundred_touchpoints_the_counters_equal_a_full_count_of_the_profiles(runner: Runner) -> None:
    # Given a few hundred touchpoints from every channel, over 120 people met again and again
    rng = random.Random(7)
    builders = [
        lambda p: ("web", factories.web(p)),
        lambda p: ("web", factories.web(p, action="page_view", customer={"given_name": p.given_name})),
        lambda p: ("app", factories.app(p)),
        lambda p: ("email", factories.email(p)),
        lambda p: ("email", factories.email(p, event="unsubscribe")),
        lambda p: ("sms", factories.sms(p)),
        lambda p: ("push", factories.push(p)),
        lambda p: ("store", factories.store(p, folio=f"F-{rng.randrange(10**6):06d}")),
        lambda p: ("store", factories.store(None, folio=f"F-{rng.randrange(10**6):06d}")),
        lambda p: ("contact-center", factories.contact_center(p)),
    ]
    sent = 0
    for _ in range(15):
        batches: dict[str, list[dict[str, Any]]] = {}
        for _ in range(20):
            channel, body = rng.choice(builders)(person(4600 + rng.randrange(120)))
            batches.setdefault(channel, []).append(body)
        for channel, bodies in batches.items():
            response = runner.post(channel, {"touchpoints": bodies})
            assert response.status_code == 200, response.text
            sent += len(bodies)
    assert sent == 300

    # When the stream has been classified to the last revision of every profile
    wait_for(lambda: every_profile_classified(runner), 180, "the classifier to classify every profile")
    runner.settled()  # the last batch's counts are committed after its profiles
    items = every_profile_classified(runner)
    assert items is not None

    # Then the distribution, read from the counters, is what a count of every profile item gives
    by_hand: Counter[tuple[str, str]] = Counter(
        (item["state"]["S"], item["origin_channel"]["S"]) for item in items if item["status"]["S"] == "active"
    )
    response = runner.signed("developer", "GET", "/v1/reports/profile-states")
    assert response.status_code == 200, response.text
    report = response.json()
    counted = Counter(
        {(state, origin): n for origin, cells in report["by_origin"].items() for state, n in cells.items() if n}
    )
    assert counted == by_hand
    assert report["total"] == sum(by_hand.values()) > 100
    # ... and the funnel agrees with it: what entered each state minus what left it is what sits there
    flows: Counter[str] = Counter()
    for (from_state, to_state, _, _), profiles in today_moves(runner).items():
        flows[to_state] += profiles
        flows[from_state] -= profiles
    assert {state: flows[state] for state in "ABCDEFGU"} == report["by_state"]
