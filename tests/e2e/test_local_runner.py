"""End to end: the local runner as its own process (`python -m local_runner ...`), over real HTTP.

Nothing is mocked here: the runner reads template.yaml, embeds moto, runs every function in its own
process and polls the stream and the queues. The runner's whole output (its access log and every
function's logs) is checked for personal data, like the handlers' responses.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runner.commands.demo_data import demo_person
from local_runner.emulator.harness import clean_environment
from local_runner.emulator.principals import sign
from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii, local_principal, wait_for
from tests.people import person, register_pii

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SAM = Path(sys.executable).parent / "sam"
OPERATOR = "ComplianceOperatorRole"


def test_a_touchpoint_posted_over_http_is_stored_classified_and_erased(runner: Runner) -> None:
    # Given a person who signs up on the web
    someone = person(4101)
    signup = factories.web(someone)
    subject_id = runner.stored_on("web", runner.post("web", signup), signup)

    # Then the stream poller runs the classifier on the new profile
    profile = wait_for(lambda: (p := runner.profile(subject_id)) and "state" in p and p, 45, "the classifier")
    assert profile["state"]["S"] == "A"
    assert profile["changed_by"]["S"] == "classifier"

    # When the compliance operator asks for the person's erasure (SigV4, the operator role's session)
    erasure = {"subject": {"email": someone.email}, "regulation": "gdpr", "case_reference": "CASE-E2E-4101"}
    accepted = runner.signed(OPERATOR, "POST", "/v1/compliance/erasures", erasure)
    assert accepted.status_code == 202, accepted.text
    request_path = accepted.headers["Location"]

    # Then the queue poller runs the erasure worker until the request completes, and the profile is gone
    def completed() -> dict[str, Any] | None:
        status = runner.signed(OPERATOR, "GET", request_path)
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["state"] != "failed", body
        return body if body["state"] == "completed" else None

    wait_for(completed, 60, "the erasure to complete")
    assert runner.profile(subject_id) is None
    # And the erased person's identifiers are refused from now on (a private channel is told so)
    again = runner.post("store", factories.store(someone))
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "subject_erased"


def test_api_gateway_refuses_what_api_gateway_refuses(runner: Runner) -> None:
    body = factories.web(person(4102))
    no_key = runner.post("web", body, api_key="")
    assert (no_key.status_code, no_key.json()) == (403, {"message": "Forbidden"})
    wrong_key = runner.post("web", body, api_key="not-a-key")
    assert (wrong_key.status_code, wrong_key.json()) == (403, {"message": "Forbidden"})
    # A valid key of another channel passes API Gateway; the web function itself refuses it.
    other_channel = runner.post("web", body, api_key=runner.health["api_keys"]["StoreApiKey"])
    assert other_channel.status_code == 403
    assert other_channel.json()["error"]["code"] == "forbidden"

    unknown = requests.post(f"{runner.url}/v1/nowhere", data=b"{}", timeout=10)
    assert (unknown.status_code, unknown.json()) == (403, {"message": "Missing Authentication Token"})
    unsigned = requests.post(f"{runner.url}/v1/compliance/erasures", json={}, timeout=10)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Missing Authentication Token"})

    url = f"{runner.url}/v1/reports/profile-states"
    headers = sign(local_principal("developer"), "GET", url)
    headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    forged = requests.get(url, headers=headers, timeout=10)
    assert forged.status_code == 403
    assert "signature" in forged.json()["message"]


def test_iam_routes_get_the_signed_callers_identity(runner: Runner) -> None:
    report = runner.signed("developer", "GET", "/v1/reports/profile-states")
    assert report.status_code == 200, report.text
    assert set(report.json()["by_state"]) <= set("ABCDEFGU")
    # Authenticated, but not the compliance operator: the function's own check refuses it.
    not_operator = runner.signed("developer", "POST", "/v1/compliance/exports", {"subject": {"email": "x@example.com"}})
    assert not_operator.status_code == 403
    assert not_operator.json()["error"]["code"] == "forbidden"


def test_a_binary_body_reaches_the_function_base64_encoded(runner: Runner) -> None:
    response = requests.post(
        f"{runner.url}/v1/web/touchpoints",
        data=b"\xff\xfe\x00 not utf-8",
        headers={"Content-Type": "application/json", "x-api-key": runner.health["api_keys"]["WebApiKey"]},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def _invoke(*args: str, stdin: str | None = None, fork: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local_runner", "invoke", *args],
        cwd=REPO_ROOT,
        env=clean_environment() | ({} if fork else {"LOCAL_RUNNER_FORK": "0"}),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_invoke_serves_an_events_file_like_sam_local_invoke() -> None:
    result = _invoke("StoreChannelFunction", "-e", "events/store-cash-purchase.json", "--env-vars", "env.json")
    assert result.returncode == 0, result.stderr[-2000:]
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["results"][0]["status"] == "stored"
    person(0)  # the person in events/ (registered for the leak check)
    assert_no_pii(result.stdout + result.stderr, "invoke's output")


def test_invoke_names_the_functions_when_one_is_unknown() -> None:
    result = _invoke("NoSuchFunction")
    assert result.returncode != 0
    assert "WebChannelFunction" in result.stderr


def test_an_event_from_sam_local_generate_event_is_served_by_its_handler(tmp_path: Path) -> None:
    # Given the event the SAM CLI generates for a POST with a web touchpoint as its body
    body = json.dumps(factories.web(person(4103)))
    command = [str(SAM), "local", "generate-event", "apigateway", "aws-proxy", "--method", "POST", "--stage", "v1"]
    generated = subprocess.run(
        [*command, "--path", "v1/web/touchpoints", "--body", body],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    event = json.loads(generated.stdout)
    assert event["isBase64Encoded"] is True  # the CLI sends the body base64-encoded
    # adjusted only with the route's resource and path, and the caller's API key id
    event["resource"] = event["requestContext"]["resourcePath"] = event["path"] = "/v1/web/touchpoints"
    event["requestContext"]["identity"]["apiKeyId"] = "local-WebApiKey"
    event_file = tmp_path / "generated.json"
    event_file.write_text(json.dumps(event))

    # When the route's function is invoked with it (in a fresh interpreter, not forked from the zygote)
    result = _invoke("WebChannelFunction", "-e", str(event_file), fork=False)

    # Then the handler serves it
    assert result.returncode == 0, result.stderr[-2000:]
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200, response
    result_ = json.loads(response["body"])["results"][0]
    # the web is a public channel: it accepts the touchpoint and never says which profile it reached
    assert result_["status"] == "accepted" and "profile_id" not in result_, result_
    assert_no_pii(result.stdout + result.stderr, "invoke's output")


def test_the_demo_sends_every_channel_and_prints_states_without_personal_data() -> None:
    people = 6
    for n in range(people):
        register_pii(*demo_person(n).pii_values())
    person(0)  # the person in events/

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "local_runner", "demo", "--people", str(people)],
        cwd=REPO_ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "State distribution" in result.stdout
    # ... then the funnel, from the classifier's counters: each profile listed arrived from `none` once
    assert result.stdout.index("Migration funnel") > result.stdout.index("State distribution")
    arrivals = re.findall(r"^\s+none -> [A-GU]\s+by \S+\s+\S+\s+(\d+)$", result.stdout, re.MULTILINE)
    listed = re.findall(r"^\s+sub_[0-9a-f]{32}\s", result.stdout, re.MULTILINE)
    assert listed and sum(map(int, arrivals)) >= len(listed)
    for channel in factories.CHANNEL_FUNCTIONS:
        assert re.search(rf"\b{channel} \d+", result.stdout), channel
    linked = [int(n) for n in re.findall(r"^\s+sub_[0-9a-f]{32}\s+(\d+)\s", result.stdout, re.MULTILINE)]
    assert linked and all(n >= 1 for n in linked), "every profile shows the identifiers it links"
    # ... and identity resolution merged the people met again on another channel, each merge completed, as the
    # compliance route lists them
    merges = re.search(
        r"^Identity resolution \(GET /v1/compliance/identity-log\): (\d+) merge\(s\)", result.stdout, re.MULTILINE
    )
    assert merges and int(merges[1]) >= 1, result.stdout[-3000:]
    merged = re.findall(
        r"^\s+merge\s+sub_[0-9a-f]{32} -> sub_[0-9a-f]{32}\s+by \S+\s+\S+\s+(\S+)$", result.stdout, re.M
    )
    assert merged == ["completed"] * int(merges[1]), merged
    # (an absorbed profile the classifier had already counted leaves the funnel; one merged before it was counted
    # never entered it)
    absorbed = re.findall(r"^\s+[A-GU] -> gone\s+by identity\s+merge\s+(\d+)$", result.stdout, re.MULTILINE)
    assert 1 <= sum(map(int, absorbed)) <= int(merges[1]), "the funnel counts absorbed profiles leaving"
    # It ends with a campaign asking for every profile, and the contact-pressure report counting what was sent
    receipts = re.search(r"service: digital-ticket receipts\s+allowed (\d+)", result.stdout)
    assert receipts and int(receipts[1]) >= 1, result.stdout[-1500:]
    campaign = re.search(r"marketing: buen-fin-2026 +(.+)$", result.stdout, re.MULTILINE)
    assert campaign, result.stdout[-1500:]
    reasons = {"allowed", "no_consent", "suppressed", "not_contactable_on_channel", "frequency_cap", "quiet_hours"}
    outcomes = dict(part.rsplit(" ", 1) for part in campaign[1].split(", "))
    assert set(outcomes) <= reasons and sum(map(int, outcomes.values())) == len(linked)
    contacted = re.search(r"people by contacts sent, last 7 days: (.+)$", result.stdout, re.MULTILINE)
    assert contacted and contacted[1] != "none"
    # ... and before it the program loop: the audience pulled, the emails its decisions allowed recorded with the
    # program, the invited who answered moving to a more complete state, each credited to the program's campaign
    audience = re.search(r"audience \(GET /v1/reports/audiences, email, marketing\): (\d+) profiles", result.stdout)
    allowed = re.search(r"contact decisions allowed (\d+); emails recorded with the program: (\d+)", result.stdout)
    answered = re.search(r"invited people who answered through the link \(\w+\): (\d+)", result.stdout)
    credited = re.search(r"pulled (\d+), sent (\d+), moved (\d+) .*of a contact (\d+)$", result.stdout, re.MULTILINE)
    assert audience and allowed and answered and credited, result.stdout[-2500:]
    assert int(audience[1]) >= 1 and int(answered[1]) >= 1
    assert int(credited[1]) == int(audience[1]) and int(credited[2]) == int(allowed[2]) == int(allowed[1])
    assert int(credited[3]) == int(credited[4]) == int(answered[1])
    report = re.search(r"^HTML report .*: (\S+)$", result.stdout, re.MULTILINE)
    assert report and Path(report[1]).is_file()
    assert_no_pii(Path(report[1]).read_text(), "the demo's HTML report")
    assert_no_pii(result.stdout + result.stderr, "the demo's output")
    logs = re.search(r"function logs: (\S+)", result.stdout)
    assert logs is not None
    assert_no_pii(Path(logs[1]).read_text(), "the demo's function logs")
    assert elapsed < 120
