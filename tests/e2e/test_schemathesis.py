"""Property-based API tests: schemathesis generates requests from the OpenAPI document
(local_runner/commands/openapi.py, the functions' own resolvers) and sends them over HTTP to the local
runner. Every answer must be documented for its route and never a 5xx; channel routes get their
own channel's key, IAM routes get no signature and must refuse.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from local_runner.commands.openapi import build
from tests.conftest import FUNCTIONS, find_pii
from tests.e2e.conftest import Runner
from tests.factories import CHANNEL_API_KEYS
from tests.reliability import tally

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 20
DOCUMENT = build()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def _auth(operation: dict[str, Any]) -> str:
    return next(iter((operation.get("security") or [{"none": []}])[0]))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_as_documented(case: Any, runner: Runner) -> None:
    operation = DOCUMENT["paths"][case.operation.path][case.operation.method.lower()]
    checks = [not_a_server_error, status_code_conformance]
    if _auth(operation) == "channelApiKey":
        channel = case.operation.path.split("/")[2]
        # the channel's own key, over whatever the generator put in the header
        case.headers = {**(case.headers or {}), "x-api-key": runner.health["api_keys"][CHANNEL_API_KEYS[channel]]}
        # the gateway's own refusals are not ours to describe; the functions' answers are, body included
        checks.append(response_schema_conformance)
    elif _auth(operation) == "sdkWriteKey" or case.operation.path.startswith("/sdk/"):  # browser routes too
        channel = case.operation.path.split("/")[2]
        key = runner.health["api_keys"][CHANNEL_API_KEYS[channel]]
        case.headers = {
            **(case.headers or {}),
            "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
        }
        checks.append(response_schema_conformance)
    response = case.call(base_url=runner.url, timeout=60)
    tally.add("schemathesis_cases")
    if response.status_code >= 500:
        tally.add("server_errors")
    leaked = find_pii(response.text)
    tally.add("bytes_scanned", len(response.content))
    tally.add("pii_leaks", len(leaked))
    assert not leaked
    if _auth(operation) == "sigv4":
        assert response.status_code == 403, response.text
    case.validate_response(response, checks=checks)


def test_over_http_each_route_refuses_the_wrong_credentials(runner: Runner) -> None:
    """The gateway and the functions together: only a channel's own key posts as that channel, and
    no channel key opens an IAM route."""
    keys = runner.health["api_keys"]
    for spec in FUNCTIONS.values():
        for route in spec.routes:
            browser = "/browser/" in route.path  # no gateway credential: the function checks the write key
            url = runner.url + re.sub(r"\{[^}]+\}", "p" if browser else "req-00000000", route.path)
            attempts: list[dict[str, str]] = [{}, {"x-api-key": "not-a-key"}]
            refusal = 401 if route.auth == "authorizer" or (browser and route.method == "POST") else 403
            if route.auth == "authorizer" or browser:
                own = CHANNEL_API_KEYS[route.path.split("/")[2]]
                attempts += [
                    {"Authorization": "Basic " + base64.b64encode(f"{keys[k]}:".encode()).decode()}
                    for k in sorted(set(CHANNEL_API_KEYS.values()) - {own})
                ]
                attempts += [{"x-api-key": keys[own]}]  # the channel's key, but not as the SDKs send it
            elif route.auth == "api_key":
                own = CHANNEL_API_KEYS[route.path.split("/")[2]]
                attempts += [{"x-api-key": keys[k]} for k in sorted(set(CHANNEL_API_KEYS.values()) - {own})]
            else:
                attempts += [{"x-api-key": keys[k]} for k in sorted(set(CHANNEL_API_KEYS.values()))]
            for headers in attempts:
                response = requests.request(
                    route.method,
                    url,
                    data=json.dumps({"event_id": "x"}) if route.method != "GET" else None,
                    headers={"Content-Type": "application/json", **headers},
                    timeout=60,
                )
                tally.add("access_checks_http")
                assert response.status_code == refusal, (route.path, sorted(headers), response.text)
