"""Journey of a campaign over HTTP through the local runner: people met on the channels (classified: the stream
settled), an SMS campaign asking before it sends, the contact it records, the caps, the classifier still counting
a capped-out person as contactable, an erasure (suppressed, counters gone) and marketing's contact-pressure report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories
from tests.contact_helpers import contact, daytime, decisions_body
from tests.e2e.conftest import Runner, assert_no_pii
from tests.people import person

pytestmark = pytest.mark.e2e
OPERATOR = "ComplianceOperatorRole"


def stored(runner: Runner, channel: str, body: dict[str, Any]) -> str:
    return runner.stored_on(channel, runner.post(channel, body), body)


def decisions(runner: Runner, channel: str, recipients: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    response = runner.post(channel, decisions_body(recipients, **extra), resource="contact-decisions")
    assert response.status_code == 200, response.text
    assert_no_pii(response.text, "a contact decision")
    return list(response.json()["decisions"])


def counters_of(runner: Runner, subject_id: str) -> list[dict[str, Any]]:
    answer = runner.dynamodb().query(
        TableName=runner.health["tables"]["ProfileTable"],
        KeyConditionExpression="pk = :pk AND sk = :sk",
        ExpressionAttributeValues={":pk": {"S": f"SUBJECT#{subject_id}"}, ":sk": {"S": "CONTACTS"}},
        ConsistentRead=True,
    )
    return list(answer["Items"])


def test_a_campaign_asks_sends_is_capped_and_an_erased_person_is_suppressed(runner: Runner) -> None:
    subscriber, app_user, stranger = person(4400), person(4401), person(4402)
    # Given a web sign-up with marketing consent on all channels, and an app user with no phone, both classified
    signed_up = stored(runner, "web", factories.web(subscriber))
    app_only = stored(runner, "app", factories.app(app_user))
    assert runner.classified(signed_up)["state"]["S"] in {"A", "B"}
    runner.classified(app_only)

    # When the SMS channel reserves its campaign for them and for someone never met
    first = decisions(
        runner,
        "sms",
        [daytime({"phone": subscriber.phone}), daytime({"email": app_user.email}), daytime({"email": stranger.email})],
        reserve=True,
    )
    # Then the subscriber is allowed and reserved; the app user cannot get an SMS; the stranger gave no consent
    assert first[0]["allowed"] and first[0]["reservation_id"].startswith("rsv_")
    assert [d.get("reason") for d in first[1:]] == ["not_contactable_on_channel", "no_consent"]

    # When the channel sends the SMS and records it with its reservation, for a program (issue 25)
    sent = contact({"phone": subscriber.phone}, "sms", reservation_id=first[0]["reservation_id"], program="loyalty")
    response = runner.post("sms", {"contacts": [sent]}, resource="contacts")
    assert response.json()["results"] == [{"event_id": sent["event_id"], "status": "stored"}], response.text
    # and a program classification.yaml does not have is refused, naming the field
    wrong = runner.post("sms", {"contacts": [{**sent, "event_id": "snt-wrong", "program": "x"}]}, resource="contacts")
    assert wrong.status_code == 422 and "unknown_program" in wrong.text, wrong.text

    # Then a second campaign the same day is held by the daily SMS cap, and told when it may send
    second = decisions(runner, "sms", [daytime({"profile_id": signed_up})], reserve=True, campaign="flash-sale")
    assert (second[0]["profile_id"], second[0]["reason"]) == (signed_up, "frequency_cap")
    assert "allowed_at_because" not in second[0]  # the reservation became a contact: no reservation to expire
    allowed_at = datetime.fromisoformat(second[0]["allowed_at"])
    assert datetime.now(UTC) + timedelta(hours=23) < allowed_at < datetime.now(UTC) + timedelta(days=1, hours=10)
    # while email, capped separately, may still be used
    assert decisions(runner, "email", [daytime({"profile_id": signed_up})])[0]["allowed"]
    # and the classifier, settled, still counts the capped-out person as reachable by SMS: a cap is not a "no"
    assert "sms" in [c["S"] for c in runner.classified(signed_up)["contact_channels"]["L"]]

    # And the public channels cannot ask at all
    for channel in ("web", "app"):
        refused = runner.post(channel, decisions_body([{"profile_id": signed_up}]), resource="contact-decisions")
        assert refused.status_code in (403, 404), refused.text

    # And marketing's report counts the contact and the cap hit, with no one's id
    report = runner.signed("developer", "GET", "/v1/reports/contact-pressure")
    assert report.status_code == 200, report.text
    assert signed_up not in report.text
    body = report.json()
    assert body["people_contacted"]["last_7_days"] >= 1
    last_week = body["people_by_contacts"]["last_7_days"]
    assert sum(last_week.values()) == body["people_contacted"]["last_7_days"], body
    assert {"channel": "sms", "campaign_id": "flash-sale", "hits": 1} in body["cap_hits"]["by_channel_and_campaign"]
    assert runner.post("sms", {}, resource="contact-decisions").status_code == 422
    assert len(counters_of(runner, signed_up)) == 1

    # When compliance erases the subscriber and the erasure completes
    accepted = runner.signed(
        OPERATOR,
        "POST",
        "/v1/compliance/erasures",
        {"subject": {"phone": subscriber.phone}, "regulation": "lfpdppp", "case_reference": "CASE-4400"},
    )
    assert accepted.status_code == 202, accepted.text
    runner.completed(OPERATOR, accepted.headers["Location"])

    # Then their counters are gone, and every sending channel is told they are suppressed
    assert counters_of(runner, signed_up) == []
    for channel in ("sms", "email", "push", "contact-center"):
        answer = decisions(runner, channel, [daytime({"phone": subscriber.phone}), daytime({"profile_id": signed_up})])
        assert [d["reason"] for d in answer] == ["suppressed", "suppressed"], channel
