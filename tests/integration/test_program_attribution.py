"""Program attribution (issue 25) through the channel functions, the stream and the report function: a move is
credited to the program and campaign of the touchpoint that caused it and to the campaign that contacted the person
before it, exactly once however often the stream delivers the batch."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories, streams
from tests.integration.test_classifier_stream import SOURCE, Pipeline
from tests.integration.test_funnel_counters import moves, report
from tests.people import person
from touchpoints.adapters import keys
from touchpoints.items import contact as contact_item

CAMPAIGN = "bf-2026"


@pytest.fixture
def pipeline(lambdas, local_aws) -> Pipeline:
    return Pipeline(lambdas, local_aws)


def programs(pipeline: Pipeline) -> dict[tuple[str, str | None], dict[str, Any]]:
    today = datetime.now(UTC).date().isoformat()
    body = report(pipeline, "programs", {"from": today, "to": today})
    assert body["attribution_days"] > 0
    return {(p["program"], p["campaign_id"]): p for p in body["programs"]}


def contacted(pipeline: Pipeline, subject_id: str, days_ago: float, channel: str, program: str) -> None:
    """The person's contact history as the contacts' store keeps it (items/contact.py): one contact sent."""
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    entry = {
        contact_item.ENTRY_AT: {"S": at},
        contact_item.ENTRY_CHANNEL: {"S": channel},
        contact_item.ENTRY_PURPOSE: {"S": "marketing"},
        contact_item.ENTRY_CAMPAIGN: {"S": CAMPAIGN},
        contact_item.ENTRY_PROGRAM: {"S": program},
    }
    pipeline.aws.dynamodb.put_item(
        TableName=pipeline.aws.table("ProfileTable"),
        Item={
            contact_item.PK: {"S": keys.subject_pk(subject_id)},
            contact_item.SK: {"S": contact_item.SK_VALUE},
            contact_item.ENTITY_ATTR: {"S": contact_item.ENTITY},
            contact_item.SUBJECT_ID: {"S": subject_id},
            contact_item.REVISION: {"N": "1"},
            contact_item.SENT: {"L": [{"M": entry}]},
        },
    )


def test_a_move_is_credited_to_the_touchpoints_program_and_the_contacting_campaign_once_under_replays(pipeline):
    # Given a cash buyer whose store purchase named the program (G), then emailed by the program's campaign
    buyer = pipeline.post("store", {**factories.store(None, folio="F-2501"), "program": "ticket_registration"})
    pipeline.pump()
    assert pipeline.state(buyer) == "G"
    assert pipeline.profile(buyer)["last_program"]["S"] == "ticket_registration"
    assert "last_campaign" not in pipeline.profile(buyer)
    contacted(pipeline, buyer, 2, "email", "ticket_registration")

    # When the buyer registers the ticket on the web for the campaign, with name, email and consent
    p = person(2501)
    registration = factories.web(
        p,
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": "F-2501"},
        customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
    )
    assert pipeline.post("web", {**registration, "program": "ticket_registration", "campaign_id": CAMPAIGN}) == buyer
    pipeline.pump()
    assert pipeline.state(buyer) == "A"
    assert pipeline.profile(buyer)["last_campaign"]["S"] == CAMPAIGN

    # Then the funnel shows the moves by channel and action as before, and the programs report credits them
    once = (moves(pipeline), programs(pipeline))
    assert once[0] == {("none", "G", "store", "purchase"): 1, ("G", "A", "web", "ticket_registration"): 1}
    campaign, no_campaign = once[1][("ticket_registration", CAMPAIGN)], once[1][("ticket_registration", None)]
    assert (campaign["moved"], campaign["moves"]) == (1, [{"from": "G", "to": "A", "channel": "web", "count": 1}])
    assert (campaign["moved_after_contact"], campaign["moved_after_contact_by_channel"]) == (1, {"email": 1})
    assert (no_campaign["moved"], no_campaign["moves"]) == (
        1,
        [{"from": "none", "to": "G", "channel": "store", "count": 1}],
    )
    assert no_campaign["moved_after_contact"] == 0  # the contact came after the purchase

    # When the stream delivers every record again: in order, reversed, shuffled
    delivered = streams.passing(SOURCE.filters, pipeline.read)
    shuffled = delivered[:]
    random.Random(25).shuffle(shuffled)
    for batch in (delivered, delivered[::-1], shuffled):
        assert pipeline.deliver(batch) == []

    # Then nothing was credited twice
    assert (moves(pipeline), programs(pipeline)) == (once[0], {**once[1]})


def test_a_later_touchpoint_without_a_program_is_credited_to_none(pipeline):
    buyer = pipeline.post("store", {**factories.store(None, folio="F-2502"), "program": "digital_draw"})
    pipeline.pump()
    p = person(2502)
    registration = factories.web(
        p,
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": "F-2502"},
        customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
    )
    assert pipeline.post("web", registration) == buyer
    pipeline.pump()
    assert "last_program" not in pipeline.profile(buyer)
    draw = programs(pipeline)[("digital_draw", None)]
    assert draw["moves"] == [{"from": "none", "to": "G", "channel": "store", "count": 1}]  # not the web's G -> A
