"""Contact pressure from counters (issue 23) through the handlers on moto: contacts recorded over several days give
the report a count made by hand; a retried request, and an update whose answer was lost, count once; contacts sent
are counted per program and campaign; a reservation that held nothing is answered as such (issue 25)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from tests import factories
from tests.contact_helpers import contact, daytime
from tests.integration.test_contact_decisions import decide, profile_id, record
from tests.people import person
from touchpoints.adapters import aws
from touchpoints.adapters.contact_store import DynamoContactReports
from touchpoints.wiring import channels, container

REPORT = "ProfileStateReportFunction"
ANALYST = "arn:aws:sts::123456789012:assumed-role/BusinessAnalyst/analyst"


def pressure(lambdas: Any) -> dict[str, Any]:
    event = factories.api_event("GET", "/v1/reports/contact-pressure", user_arn=ANALYST)
    answer = lambdas.invoke(REPORT, event)
    assert answer["statusCode"] == 200, answer["body"]
    return json.loads(answer["body"])  # type: ignore[no-any-return]


def clock_at(moment: datetime) -> None:
    """The email function's container (built already) records as if it were `moment`."""
    channels.contact_service()._clock = lambda: moment  # type: ignore[method-assign]


class LoseOneUpdate:
    """The first counter UpdateItem's answer is lost after moto applied it: botocore sends it again."""

    def __init__(self) -> None:
        self.lost = 1  # armed by setting it to 0

    def __call__(self, event_name: str, params: Any = None, **_: Any) -> None:
        if event_name.endswith(".UpdateItem") and self.lost == 0:
            self.lost += 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


@pytest.fixture
def lose_one_update() -> Iterator[LoseOneUpdate]:
    hook = LoseOneUpdate()
    aws.session().events.register_last("before-send", hook)
    container.reset()  # clients are built again and carry the hook
    yield hook
    aws.session().events.unregister("before-send", hook)
    container.reset()


def test_the_report_counts_by_hand_over_several_days_and_a_retry_counts_once(lambdas, local_aws, lose_one_update):
    a, b, c, d = (profile_id(lambdas, "web", factories.web(person(n))) for n in range(1900, 1904))
    now = datetime.now(UTC)
    today = now.date()

    def at(days_ago: int) -> str:
        return (now - timedelta(days=days_ago, minutes=1)).isoformat()

    def sent(who: str, days_ago: int, **extra: Any) -> dict[str, Any]:
        return {**contact({"profile_id": who}, "email", **extra), "occurred_at": at(days_ago)}

    # Given the email function's container, and contacts recorded 20, 10 and 3 days ago (one of them late: sent
    # 25 days ago) and today, with programs named on some
    assert decide(lambdas, "email", [daytime({"profile_id": a})])[0]["allowed"]
    plan = [
        (20, [sent(a, 20, program="loyalty", campaign="cmp-a"), sent(b, 20, program="loyalty", campaign="cmp-a")]),
        (10, [sent(a, 10), sent(c, 25, program="data_update", campaign="cmp-b")]),
        (3, [sent(a, 3, program="loyalty", campaign="cmp-a"), sent(b, 3)]),
    ]
    for days_ago, contacts in plan:
        clock_at(now - timedelta(days=days_ago))
        status, body = record(lambdas, "email", *contacts)
        assert status == 200 and {r["status"] for r in body["results"]} == {"stored"}, body
    # When the request of 3 days ago is retried: duplicates, counted nothing
    status, body = record(lambdas, "email", *plan[-1][1])
    assert {r["status"] for r in body["results"]} == {"duplicate"}, body
    # and today's request has its first counter update's answer lost, and botocore sends it again
    clock_at(now)
    lose_one_update.lost = 0
    status, body = record(lambdas, "email", sent(a, 0, program="loyalty", campaign="cmp-a"), sent(d, 0))
    assert status == 200 and lose_one_update.lost == 1, body

    # Then the report is the count by hand: in the last 7 days a: 2 (3 days ago, today), b: 1, d: 1; in the last
    # 30 days a: 4, b: 2, c: 1 (the late one), d: 1
    report = pressure(lambdas)
    assert report["people_by_contacts"] == {"last_7_days": {"1": 2, "2": 1}, "last_30_days": {"1": 2, "2": 1, "4": 1}}
    assert report["people_contacted"] == {"last_7_days": 3, "last_30_days": 4}
    assert not {a, b, c, d} & set(str(report).split("'"))
    # and the contacts sent per program, campaign and channel (what named no program is not a program's)
    reader = DynamoContactReports(local_aws.dynamodb, local_aws.table("ProfileTable"))
    assert reader.contacts_sent(today - timedelta(days=30), today) == {
        ("loyalty", "cmp-a", "email"): 4,
        ("data_update", "cmp-b", "email"): 1,
    }
    assert reader.contacts_sent(today - timedelta(days=5), today) == {("loyalty", "cmp-a", "email"): 2}
    # and the person's history keeps program and campaign on each contact
    (counter,) = [i for i in local_aws.scan("ProfileTable") if i["sk"]["S"] == "CONTACTS" and i["subject_id"]["S"] == a]
    assert sorted((e["M"].get("pg", {}).get("S", ""), e["M"]["c"]["S"]) for e in counter["sent"]["L"]) == [
        ("", "buen-fin-2026"),
        ("loyalty", "cmp-a"),
        ("loyalty", "cmp-a"),
        ("loyalty", "cmp-a"),
    ]
    # and no counter item is left holding a request's marker
    counters = [
        i for i in local_aws.scan("ProfileTable") if i["pk"]["S"].startswith(("CONTACT_PRESSURE#", "CONTACTS_SENT#"))
    ]
    assert counters and not [n for i in counters for n in i if n.startswith("applied#")]


def test_an_unknown_program_is_refused_and_a_reservation_that_held_nothing_says_why(lambdas, local_aws):
    who = profile_id(lambdas, "web", factories.web(person(1910)))
    # A program classification.yaml does not have: 422 naming the field
    status, body = record(lambdas, "email", contact({"profile_id": who}, "email", program="telepathy"))
    assert status == 422, body
    assert {(tuple(d["loc"])[-1], d["code"]) for d in body["error"]["details"]} == {("program", "unknown_program")}

    # A reservation made, then used: nothing to say; used again by another contact, or never issued: unknown
    (held,) = decide(lambdas, "email", [daytime({"profile_id": who})], reserve=True)
    rid = held["reservation_id"]
    status, body = record(
        lambdas,
        "email",
        contact({"profile_id": who}, "email", reservation_id=rid),
        contact({"profile_id": who}, "email", reservation_id=rid),
        contact({"profile_id": who}, "email", reservation_id="rsv_" + "f" * 32),
    )
    assert status == 200, body
    assert [(r["status"], r.get("reservation")) for r in body["results"]] == [
        ("stored", None),
        ("stored", "unknown"),
        ("stored", "unknown"),
    ]
    # and one whose time has passed: expired
    expired = "rsv_" + f"{int((datetime.now(UTC) - timedelta(hours=1)).timestamp()):08x}" + "0" * 24
    status, body = record(lambdas, "email", contact({"profile_id": who}, "email", reservation_id=expired))
    assert [(r["status"], r.get("reservation")) for r in body["results"]] == [("stored", "expired")]
