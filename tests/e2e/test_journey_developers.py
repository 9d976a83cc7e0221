"""Journey of a developer, against the local runner: a sample event invoked as `sam local invoke` would,
the served API and its pollers taking it from there, and a scheduled function run by hand.

`python -m local_runner invoke` is pointed at the served runner's AWS (AWS_ENDPOINT_URL), so what one
function writes, the runner's stream poller classifies and its API reports.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Runner
from tests.people import person

pytestmark = pytest.mark.e2e


def test_a_sample_event_invoked_by_hand_is_classified_reported_and_counted(runner: Runner) -> None:
    person(0)  # the samples' person: registered for the leak scans

    # When the developer invokes the web channel with its sample sign-up
    answer = runner.invoke("WebChannelFunction", "events/web-signup.json")

    # Then the function answers as API Gateway would relay it, and the served runner's classifier takes it in
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["results"][0]["status"] == "accepted"  # the web is a public channel
    subject_id = runner.subject_of("email", person(0).email)
    assert subject_id is not None
    assert runner.classified(subject_id)["state"]["S"] == "A"

    # And the state report served over HTTP (signed as the developer) counts it
    report = runner.signed("developer", "GET", "/v1/reports/profile-states")
    assert report.status_code == 200, report.text
    assert report.json()["by_state"].get("A", 0) >= 1

    # When the developer runs the hourly deadline check by hand, Then it reads the same tables: nothing open
    check = runner.invoke("ErasureDeadlineCheckFunction", "events/erasure-deadline-check-hourly.json")
    assert check == {
        "near_deadline": 0,
        "open": 0,
        "by_days_left": {"overdue": 0, "0-7": 0, "8-14": 0, "15-30": 0, "31+": 0},
    }
