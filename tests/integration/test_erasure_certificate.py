"""The erasure certificate (GET /v1/compliance/requests/{id}/certificate): what the team files once an erasure
is done, built from the worker's own record of each step; no personal data in it."""

from __future__ import annotations

import json
from datetime import datetime

from tests import factories
from tests.conftest import find_pii
from tests.integration.compliance_helpers import OPERATOR, call, drain, erase
from tests.people import person


def certificate(lambdas, request_id: str, text: bool = False) -> dict:
    path = f"/v1/compliance/requests/{request_id}/certificate"
    event = factories.api_event("GET", path, user_arn=OPERATOR, path_parameters={"request_id": request_id})
    if text:
        event["queryStringParameters"] = {"format": "text"}
        event["multiValueQueryStringParameters"] = {"format": ["text"]}
    return lambdas.invoke("ComplianceApiFunction", event)


def test_a_completed_erasure_has_a_certificate_of_each_step(lambdas):
    # Given a person seen on two channels, erased with suppression and carried out by the worker
    p = person(1400)
    lambdas.post("web", factories.web(p, "purchase"))
    lambdas.post("store", factories.store(p, folio="F-1400"))
    code, accepted = erase(lambdas, {"email": p.email}, regulation="lfpdppp")
    assert code == 202
    drain(lambdas)

    # When compliance asks for the certificate
    result = certificate(lambdas, accepted["request_id"])

    # Then it says what was done, when, and within the deadline
    assert result["statusCode"] == 200, result["body"]
    cert = json.loads(result["body"])
    assert cert["request_id"] == accepted["request_id"] and cert["case_reference"] == "CASE-2026-0042"
    assert cert["regulation"] == "lfpdppp" and cert["deadline"] == accepted["deadline"]
    assert cert["deadline_met"] is True and cert["key_destroyed"] is True and cert["suppressed"] is True
    assert [s["step"] for s in cert["steps"]] == ["freeze", "suppress", "shred", "purge"]
    times = [datetime.fromisoformat(s["at"]) for s in cert["steps"]]
    assert datetime.fromisoformat(cert["received_at"]) <= times[0]
    assert times == sorted(times) and times[-1] == datetime.fromisoformat(cert["completed_at"])
    counts = {s["step"]: s["counts"] for s in cert["steps"]}
    assert counts["freeze"] == {"profiles_frozen": 1} and counts["shred"] == {"keys_destroyed": 1}
    assert counts["suppress"]["tokens_suppressed"] == cert["identifiers_suppressed"] >= 5
    assert counts["purge"]["items_deleted"] == cert["items_deleted"] >= 5  # profile, 2 events, consent history
    assert not find_pii(result["body"])

    # And the text form says the same, for filing
    text = certificate(lambdas, accepted["request_id"], text=True)
    assert text["statusCode"] == 200 and text["multiValueHeaders"]["Content-Type"][0].startswith("text/plain")
    assert accepted["request_id"] in text["body"] and "Legal deadline" in text["body"] and "met: yes" in text["body"]
    assert "shred" in text["body"] and not find_pii(text["body"])


def test_an_erasure_without_suppression_says_so(lambdas):
    p = person(1401)
    lambdas.post("sms", factories.sms(p))
    code, accepted = erase(lambdas, {"phone": p.phone}, suppress=False)
    assert code == 202
    drain(lambdas)
    cert = json.loads(certificate(lambdas, accepted["request_id"])["body"])
    assert cert["suppressed"] is False and cert["key_destroyed"] is True
    assert cert["steps"][1]["counts"] == {"tokens_released": 1}


def test_no_certificate_before_completion_for_other_requests_or_unknown_ids(lambdas):
    p = person(1402)
    lambdas.post("web", factories.web(p))
    code, accepted = erase(lambdas, {"email": p.email})
    pending = certificate(lambdas, accepted["request_id"])
    assert pending["statusCode"] == 409 and json.loads(pending["body"])["error"]["code"] == "request_not_completed"

    q = person(1403)
    lambdas.post("web", factories.web(q))
    case = {"regulation": "gdpr", "case_reference": "CASE-2026-1403"}
    code, objection = call(
        lambdas, "POST", "objections", {"subject": {"email": q.email}, "objections": [{"purpose": "analytics"}], **case}
    )
    assert code == 200
    other = certificate(lambdas, objection["request_id"])
    assert other["statusCode"] == 409 and json.loads(other["body"])["error"]["code"] == "not_an_erasure"

    unknown = certificate(lambdas, "dsr_" + "0" * 32)
    assert unknown["statusCode"] == 404 and json.loads(unknown["body"])["error"]["code"] == "request_not_found"
    malformed = certificate(lambdas, "not-a-request")
    assert malformed["statusCode"] == 422
