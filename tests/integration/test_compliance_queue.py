"""The request queue (GET /v1/compliance/requests): what is open and due, by deadline, in pages, no personal data."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import pytest

from tests import factories
from tests.conftest import find_pii
from tests.integration.compliance_helpers import OPERATOR, call, drain, erase
from tests.people import person


def queue(lambdas, **query: str) -> tuple[int, dict]:
    event = factories.api_event("GET", "/v1/compliance/requests", user_arn=OPERATOR)
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    result = lambdas.invoke("ComplianceApiFunction", event)
    return result["statusCode"], json.loads(result["body"])


def open_requests(lambdas, first: int = 1200) -> dict[str, str]:
    """Five erasures received (not yet carried out) under three regulations: their ids by regulation and number."""
    ids = {}
    for n, regulation in enumerate(["lfpdppp", "gdpr", "ccpa", "gdpr", "lfpdppp"]):
        p = person(first + n)
        lambdas.post("sms", factories.sms(p))
        code, accepted = erase(lambdas, {"phone": p.phone}, regulation=regulation)
        assert code == 202, accepted
        ids[f"{regulation}-{n}"] = accepted["request_id"]
    return ids


def test_the_queue_lists_open_requests_by_deadline_with_days_left(lambdas):
    # Given five erasures received today under three regulations, not yet carried out
    ids = open_requests(lambdas)
    # and a completed export, which is not open
    p = person(1210)
    lambdas.post("web", factories.web(p))
    code, _ = call(
        lambdas,
        "POST",
        "exports",
        {"subject": {"email": p.email}, "regulation": "gdpr", "case_reference": "CASE-Q-1"},
        personal_answer=True,
    )
    assert code == 200

    # When compliance reads the queue
    code, page = queue(lambdas)

    # Then the five open erasures come earliest deadline first (LFPDPPP's 20 business days, GDPR's 30 days, CCPA's
    # 45), each with its days left, and nothing else
    assert code == 200, page
    listed = page["requests"]
    assert [r["request_id"] for r in listed] == [
        ids[k] for k in ("lfpdppp-0", "lfpdppp-4", "gdpr-1", "gdpr-3", "ccpa-2")
    ]
    assert [r["deadline"] for r in listed] == sorted(r["deadline"] for r in listed)
    today = datetime.now(UTC).date()
    for entry in listed:
        assert set(entry) == {
            "request_id",
            "kind",
            "regulation",
            "case_reference",
            "state",
            "received_at",
            "deadline",
            "days_left",
        }
        assert entry["days_left"] == (date.fromisoformat(entry["deadline"]) - today).days
        assert (entry["kind"], entry["state"]) == ("erasure", "received")
    assert page["next_token"] is None
    assert not find_pii(json.dumps(page))

    # When the filters name a regulation, or the completed requests
    assert {r["request_id"] for r in queue(lambdas, regulation="gdpr")[1]["requests"]} == {ids["gdpr-1"], ids["gdpr-3"]}
    code, completed = queue(lambdas, state="completed")
    assert code == 200 and [r["kind"] for r in completed["requests"]] == ["export"]


def test_pages_of_the_queue_cover_every_request_once_across_states(lambdas):
    # Given five open erasures, two of them then carried out (so two states hold requests)
    ids = open_requests(lambdas)
    drain(lambdas)  # every queued erasure completes
    # ... and five more received afterwards
    more = {f"later-{k}": v for k, v in open_requests(lambdas, first=1300).items()}

    # When the whole queue ("all") is read two at a time
    seen, token, pages = [], None, 0
    while True:
        query = {"state": "all", "limit": "2", **({"next_token": token} if token else {})}
        code, page = queue(lambdas, **query)
        assert code == 200, page
        assert len(page["requests"]) <= 2
        seen += page["requests"]
        pages += 1
        token = page["next_token"]
        if token is None:
            break

    # Then every request appears exactly once, in deadline order
    assert sorted(r["request_id"] for r in seen) == sorted([*ids.values(), *more.values()])
    assert [r["deadline"] for r in seen] == sorted(r["deadline"] for r in seen)
    assert pages == 5
    assert {r["state"] for r in seen} == {"completed", "received"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"state": "lost"}, "invalid_touchpoint"),
        ({"regulation": "hipaa"}, "invalid_touchpoint"),
        ({"limit": "0"}, "invalid_touchpoint"),
        ({"limit": "101"}, "invalid_touchpoint"),
        ({"limit": "ten"}, "invalid_touchpoint"),
        ({"next_token": "not base64!"}, "invalid_touchpoint"),
        ({"next_token": "A" * 5000}, "invalid_touchpoint"),
        ({"next_token": "AAAA"}, "invalid_next_token"),
        ({"next_token": _b64(b'{"selection": "open"}')}, "invalid_next_token"),
        ({"next_token": _b64(b"[1, 2, 3]")}, "invalid_next_token"),
        (
            {"next_token": _b64(b'{"selection": "all", "regulation": null, "after": {"received": ""}}')},
            "invalid_next_token",
        ),
    ],
)
def test_bad_filters_and_tampered_tokens_are_422(lambdas, query, error):
    open_requests(lambdas)
    code, body = queue(lambdas, **query)
    assert code == 422, body
    assert body["error"]["code"] == error, body


def test_a_token_given_for_other_filters_is_refused(lambdas):
    open_requests(lambdas)
    code, page = queue(lambdas, limit="2")
    assert code == 200 and page["next_token"]
    code, body = queue(lambdas, limit="2", regulation="gdpr", next_token=page["next_token"])
    assert code == 422 and body["error"]["code"] == "invalid_next_token"
    forged = json.loads(base64.urlsafe_b64decode(page["next_token"] + "=="))
    forged["after"]["received"] = "2026-01-01#not-a-time#dsr_x"
    token = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    code, body = queue(lambdas, limit="2", next_token=token)
    assert code == 422 and body["error"]["code"] == "invalid_next_token"


def test_channel_credentials_cannot_read_the_queue(lambdas):
    event = factories.api_event("GET", "/v1/compliance/requests", api_key_id="some-channel-key")
    result = lambdas.invoke("ComplianceApiFunction", event)
    assert result["statusCode"] == 403
