"""Journey of the channels (and of the marketing team that reads the report), over HTTP through the local runner.

Channels post touchpoints with their own API keys; the stream poller runs the classifier on
every change; once it has caught up, the state report counts each profile where the classifier
put it. Each step waits for the asynchronous part before the next one runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii
from tests.people import person

pytestmark = pytest.mark.e2e


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def posted(runner: Runner, channel: str, body: dict) -> str:
    return runner.stored_on(channel, runner.post(channel, body), body)


def test_touchpoints_from_every_channel_are_classified_and_counted(runner: Runner) -> None:
    p = [person(n) for n in range(4300, 4306)]
    report_before = runner.signed("developer", "GET", "/v1/reports/profile-states")
    assert report_before.status_code == 200, report_before.text
    before = report_before.json()["by_state"]

    # Given a cash buyer at a store, who then registers the ticket on the web with name and email
    buyer = posted(runner, "store", factories.store(None, folio="F-4300"))
    assert runner.classified(buyer)["state"]["S"] == "G"
    registration = factories.web(
        p[0],
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": "F-4300"},
        customer={"given_name": p[0].given_name, "family_name": p[0].family_name, "email": p[0].email},
    )
    assert posted(runner, "web", registration) == buyer
    # and people met by the app, an identified store purchase, an old web sign-up, and an SMS, a push,
    # an email and a contact-center call from the people already known
    expected = {buyer: "A"}
    expected[posted(runner, "app", factories.app(p[1]))] = "D"
    expected[posted(runner, "store", factories.store(p[2], folio="F-4302"))] = "C"
    expected[posted(runner, "web", factories.web(p[3], occurred_at=days_ago(500)))] = "B"
    known = posted(runner, "web", factories.web(p[4]))
    for channel, body in [
        ("sms", factories.sms(p[4])),
        ("push", factories.push(p[1])),
        ("email", factories.email(p[4], "open")),
        ("contact-center", factories.contact_center(p[4])),
    ]:
        assert posted(runner, channel, body) in expected | {known: "A"}
    expected[known] = "A"

    # When the classifier has caught up with every profile
    profiles = {subject_id: runner.classified(subject_id) for subject_id in expected}

    # Then each sits in the state its data and consents give it, with what it lacks and what would fill it
    assert {s: item["state"]["S"] for s, item in profiles.items()} == expected
    registered = profiles[buyer]
    assert (registered["previous_state"]["S"], registered["changed_by"]["S"]) == ("G", "classifier")
    assert set(profiles[known]["channels"]["SS"]) >= {
        "web",
        "sms",
        "email",
        "contact-center",
    }

    # And the state report, read by a developer's IAM identity, counts them
    report = runner.signed("developer", "GET", "/v1/reports/profile-states")
    assert report.status_code == 200, report.text
    after = report.json()["by_state"]
    added = {state: after.get(state, 0) - before.get(state, 0) for state in set(after) | set(before)}
    assert {state: n for state, n in added.items() if n} == {"A": 2, "B": 1, "C": 1, "D": 1}
    assert_no_pii(report.text, "the state report")


def test_a_public_key_can_neither_probe_nor_hijack_a_known_customer(runner: Runner) -> None:
    # Given a customer known through a store (a private channel), classified
    victim, attacker = person(4310), person(4311)
    victim_id = posted(runner, "store", factories.store(victim, folio="F-4310"))
    before = runner.classified(victim_id)

    # When the web's public key sends the customer's email with the attacker's phone, name and consents
    hijack = factories.web(
        attacker,
        "sign_up",
        customer={"email": victim.email, "phone": attacker.phone, "given_name": attacker.given_name},
        anonymous_id=None,
        consent=[
            {"purpose": "personalization", "granted": True},
            {"purpose": "marketing", "channel": "all", "granted": True},
        ],
    )
    response = runner.post("web", hijack)

    # Then the answer does not say whom it found, and the attacker's data lands on a profile of its own
    assert response.status_code == 200 and set(response.json()["results"][0]) == {
        "event_id",
        "status",
        "dropped_fields",
    }
    elsewhere = runner.stored_on("web", response, hijack)
    assert elsewhere != victim_id and runner.subject_of("phone", attacker.phone) == elsewhere
    assert "email" not in runner.classified(elsewhere)["fields"]["M"]
    # and once the stream has settled, the customer's values, consents and links are what they were
    after = runner.classified(victim_id)
    assert (after["fields"], after["consents"], after["version"]) == (
        before["fields"],
        before["consents"],
        before["version"],
    )
    assert after["state"] == before["state"]

    # When compliance exports what is held under the attacker's phone
    export = runner.signed(
        "ComplianceOperatorRole",
        "POST",
        "/v1/compliance/exports",
        {"subject": {"phone": attacker.phone}, "regulation": "gdpr", "case_reference": "CASE-E2E-4311"},
    )

    # Then the customer is not found: nothing of theirs is handed over
    assert export.status_code == 200, export.text
    assert export.json()["subject"]["subject_id"] == elsewhere
    assert victim.email.lower() not in export.text and victim.rfc not in export.text
