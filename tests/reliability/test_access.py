"""Given every API route in template.yaml, who may call it: a channel route accepts only its own
channel's key (another channel's key, no key or an IAM caller is 403, nothing written); an IAM
route (compliance, reports) refuses every channel key. Over HTTP, the same is checked against the
local runner's gateway in tests/e2e/test_schemathesis.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests import factories
from tests.conftest import FUNCTIONS
from tests.contact_helpers import contact_route_body
from tests.factories import CHANNEL_API_KEYS, api_event
from tests.people import person

CHANNEL_ROUTES = [(spec.logical_id, r) for spec in FUNCTIONS.values() for r in spec.routes if r.auth == "api_key"]
IAM_ROUTES = [(spec.logical_id, r) for spec in FUNCTIONS.values() for r in spec.routes if r.auth == "iam"]
OPERATOR_ARN = "arn:aws:sts::123456789012:assumed-role/local-ComplianceOperatorRole/someone"


def channel_of(path: str) -> str:
    return path.split("/")[2]


def body_for(path: str, n: int) -> dict[str, Any]:
    p = person(n)
    if (contact_body := contact_route_body(path, p.email)) is not None:
        return contact_body
    if path.endswith("/consents"):
        return {
            "event_id": factories.event_id("cns"),
            "occurred_at": factories.occurred(),
            "subject": {"email": p.email},
            "consent": [{"purpose": "marketing", "channel": "all", "granted": True}],
        }
    return factories.CHANNEL_PAYLOADS[channel_of(path)](p)


def call(lambdas: Any, function: str, method: str, path: str, body: Any, **identity: Any) -> tuple[int, dict[str, Any]]:
    concrete = re.sub(r"\{[^}]+\}", "req-00000000", path)
    event = api_event(method, concrete, body if method != "GET" else None, **identity)
    event["resource"] = path
    result = lambdas.invoke(function, event)
    return result["statusCode"], json.loads(result["body"])


def key_id(lambdas: Any, logical: str) -> str:
    return str(lambdas.aws.provisioned.api_keys[logical].key_id)


def profile_items(aws: Any) -> int:
    return len(aws.scan("ProfileTable"))


@pytest.mark.parametrize(("function", "route"), CHANNEL_ROUTES, ids=lambda v: getattr(v, "path", v))
def test_a_channel_route_accepts_only_its_own_channels_key(lambdas, local_aws, function, route):
    own = CHANNEL_API_KEYS[channel_of(route.path)]
    n = 900 + CHANNEL_ROUTES.index((function, route))
    for other in sorted(set(CHANNEL_API_KEYS.values()) - {own}):
        status, body = call(
            lambdas, function, route.method, route.path, body_for(route.path, n), api_key_id=key_id(lambdas, other)
        )
        assert (status, body["error"]["code"]) == (403, "forbidden"), other
    for identity in ({}, {"api_key_id": ""}, {"user_arn": OPERATOR_ARN}, {"api_key_id": "local-WebApiKey-forged"}):
        status, body = call(lambdas, function, route.method, route.path, body_for(route.path, n), **identity)
        assert (status, body["error"]["code"]) == (403, "forbidden"), identity
    assert profile_items(local_aws) == 0

    status, body = call(
        lambdas, function, route.method, route.path, body_for(route.path, n), api_key_id=key_id(lambdas, own)
    )
    assert status == 200, body


@pytest.mark.parametrize(("function", "route"), IAM_ROUTES, ids=lambda v: getattr(v, "path", v))
def test_an_iam_route_refuses_every_channel_key(lambdas, function, route):
    body = {"subject": {"email": person(950).email}, "regulation": "gdpr", "case_reference": "CASE-1"}
    for logical in sorted(set(CHANNEL_API_KEYS.values())):
        status, answer = call(lambdas, function, route.method, route.path, body, api_key_id=key_id(lambdas, logical))
        assert status == 403, (logical, answer)
        assert answer["error"]["code"] == "forbidden"
    status, _ = call(lambdas, function, route.method, route.path, body)
    assert status == 403


def test_every_route_in_the_template_is_covered():
    assert CHANNEL_ROUTES and IAM_ROUTES
    assert {channel_of(r.path) for _, r in CHANNEL_ROUTES} == set(CHANNEL_API_KEYS)
    assert all(r.path.startswith(("/v1/compliance/", "/v1/reports/")) for _, r in IAM_ROUTES)
