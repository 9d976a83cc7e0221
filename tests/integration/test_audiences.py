"""Audiences per program (issue 25) on moto: the classifier keeps the memberships, the report pages them, erasure
takes a person out, and a contact decision refuses for consent exactly those the audience leaves out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests import contact_helpers, factories
from tests.integration import compliance_helpers
from tests.integration.test_classifier_stream import Pipeline
from tests.people import person
from touchpoints.adapters.audience_store import DynamoAudienceStore
from touchpoints.classification.audience import AudienceRules, audience_page, audience_query
from touchpoints.items import audience as audience_item

REPORT = "ProfileStateReportFunction"
ANALYST = "arn:aws:sts::123456789012:assumed-role/BusinessAnalyst/analyst"
PROGRAM = "ticket_registration"


@pytest.fixture
def pipeline(lambdas, local_aws) -> Pipeline:
    return Pipeline(lambdas, local_aws)


def audience(lambdas: Any, query: str) -> tuple[int, dict[str, Any]]:
    event = factories.api_event("GET", "/v1/reports/audiences", user_arn=ANALYST)
    params = dict(part.split("=", 1) for part in query.split("&"))
    event["queryStringParameters"] = params
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
    answer = lambdas.invoke(REPORT, event)
    return answer["statusCode"], json.loads(answer["body"])


def every_id(lambdas: Any, query: str) -> list[str]:
    ids, cursor = [], None
    for _ in range(50):
        status, page = audience(lambdas, query + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, page
        ids += page["profile_ids"]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the audience never ended")


def memberships(local_aws: Any, subject: str) -> dict[str, set[str]]:
    items = local_aws.dynamodb.query(
        TableName=local_aws.table("ProfileTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": audience_item.membership_pk(subject)}},
        ConsistentRead=True,
    )["Items"]
    return {item["sk"]["S"]: set(item["reach"]["SS"]) for item in items}


def test_the_classifier_keeps_memberships_and_the_audience_lists_the_reachable(pipeline, lambdas, local_aws):
    p = [person(n) for n in range(640, 643)]
    app_user = pipeline.post("app", factories.app(p[0]))  # email + push, marketing everywhere: D
    cash_buyer = pipeline.post("store", factories.store(None, folio="F-9101"))  # G: no contact field
    pipeline.pump()

    assert PROGRAM in memberships(local_aws, app_user)
    assert {"email:marketing", "push:marketing"} <= memberships(local_aws, app_user)[PROGRAM]
    assert memberships(local_aws, cash_buyer) == {}  # recommended the program, but reachable nowhere
    assert every_id(lambdas, f"program={PROGRAM}&channel=email&purpose=marketing") == [app_user]
    assert every_id(lambdas, f"program={PROGRAM}&channel=sms&purpose=marketing") == []

    # A classification that changes nothing of the membership writes no membership item.
    written = local_aws.dynamodb.query(
        TableName=local_aws.table("ProfileTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": audience_item.membership_pk(app_user)}},
    )["Items"]
    pipeline.post("app", factories.app(p[0], occurred_at=factories.occurred(5)))
    pipeline.pump()
    again = local_aws.dynamodb.query(
        TableName=local_aws.table("ProfileTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": audience_item.membership_pk(app_user)}},
    )["Items"]
    assert again == written

    # Unsubscribed from email: out of the email audience, still in the push one.
    pipeline.post("email", factories.email(p[0], event="unsubscribe", occurred_at=factories.occurred(10)))
    pipeline.pump()
    assert "email:marketing" not in memberships(local_aws, app_user)[PROGRAM]
    assert every_id(lambdas, f"program={PROGRAM}&channel=email&purpose=marketing") == []
    assert every_id(lambdas, f"program={PROGRAM}&channel=push&purpose=marketing") == [app_user]

    # What the audience leaves out, a contact decision refuses for consent or a missing field; what it lists, no
    # decision refuses for those.
    for channel in ("email", "push"):
        listed = set(every_id(lambdas, f"program={PROGRAM}&channel={channel}&purpose=marketing"))
        body = contact_helpers.decisions_body([contact_helpers.daytime({"profile_id": app_user})])
        status, answer = lambdas.post(channel, body, resource="contact-decisions")
        assert status == 200, answer
        refused_for_good = answer["decisions"][0].get("reason") in ("no_consent", "not_contactable_on_channel")
        assert refused_for_good == (app_user not in listed), (channel, answer)


def test_erasure_takes_the_person_out_of_every_audience(pipeline, lambdas, local_aws):
    p = person(650)
    subject = pipeline.post("app", factories.app(p))
    pipeline.pump()
    assert memberships(local_aws, subject)
    code, accepted = compliance_helpers.erase(lambdas, {"email": p.email})
    assert code == 202, accepted
    pipeline.pump()  # the freeze leaves the counts and the audiences
    compliance_helpers.drain(lambdas)
    pipeline.pump()
    assert memberships(local_aws, subject) == {}
    assert every_id(lambdas, f"program={PROGRAM}&channel=push&purpose=marketing") == []


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("program=nope&channel=email&purpose=marketing", 422, "unknown_program"),
        (f"program={PROGRAM}&channel=web&purpose=marketing", 422, "unknown_channel"),
        (f"program={PROGRAM}&channel=email&purpose=spam", 422, "unknown_purpose"),
        (f"program={PROGRAM}&channel=email&purpose=marketing&cursor=not-a-cursor", 422, "bad_cursor"),
        (f"program={PROGRAM}&channel=email&purpose=marketing&limit=0", 422, None),
        (f"program={PROGRAM}&channel=email", 422, None),
    ],
)
def test_bad_parameters_are_refused_with_a_code(lambdas, query, status, code):
    answer_status, body = audience(lambdas, query)
    assert answer_status == status, body
    assert "error" in body
    if code is not None:
        assert code in json.dumps(body)


def _members(local_aws: Any, program: str, count: int, first: int) -> None:
    table = local_aws.table("ProfileTable")
    for n in range(first, first + count):
        subject = f"sub_{n:032x}"
        local_aws.dynamodb.put_item(
            TableName=table,
            Item={
                "pk": {"S": audience_item.membership_pk(subject)},
                "sk": {"S": program},
                "subject_id": {"S": subject},
                "audience_key": {"S": audience_item.audience_key(program, n % audience_item.SHARDS)},
                "reach": {"SS": ["email:marketing"]},
            },
        )


def test_a_page_is_one_query_per_shard_whatever_the_audience(local_aws):
    client = boto3.client("dynamodb")
    queries: list[int] = []
    client.meta.events.register("after-call.dynamodb.Query", lambda **_: queries.append(1))
    store = DynamoAudienceStore(client, local_aws.table("ProfileTable"), local_aws.table("StateCounterTable"))
    query = audience_query(AudienceRules.load(), "loyalty", "email", "marketing")
    per_page = {}
    for size, added, first in ((40, 40, 1), (400, 360, 10_000)):
        _members(local_aws, "loyalty", added, first)
        queries.clear()
        page = audience_page(store, query, None, limit=32, campaign_id="buen-fin")
        per_page[size] = (len(queries), page.as_dict()["count"])
    assert per_page[40] == per_page[400] == (audience_item.SHARDS, 32)
    today = datetime.now(UTC).date()
    assert store.pulled(today, today) == {("loyalty", "buen-fin"): 64}
