"""The operator tool's parts that need no API: assuming the compliance role with MFA (STS answers faked with
botocore's Stubber, the shape of each call checked), reading API Gateway's refusals, and the queue's colours."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from compliance_cli import render
from compliance_cli.client import refusal
from compliance_cli.credentials import assume_operator_role
from compliance_cli.errors import Ambiguous, CredentialsExpired, Exit, Forbidden, NoCredentials, NotFound

ROLE = "arn:aws:iam::123456789012:role/ComplianceOperatorRole"
SERIAL = "arn:aws:iam::123456789012:mfa/officer-7"
ISSUED = {
    "Credentials": {
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE00",
        "SecretAccessKey": "s" * 40,
        "SessionToken": "token",
        "Expiration": datetime(2026, 12, 1, tzinfo=UTC),
    }
}


class StubbedSession:
    """A boto3 session whose STS client answers from a Stubber."""

    def __init__(self) -> None:
        self.sts = boto3.session.Session(
            aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x", region_name="us-east-1"
        ).client("sts")
        self.stub = Stubber(self.sts)

    def client(self, service: str) -> Any:
        assert service == "sts"
        return self.sts


def test_the_role_is_assumed_with_the_mfa_code_asked_for():
    session = StubbedSession()
    expected = {"RoleArn": ROLE, "RoleSessionName": "compliance-officer-7", "SerialNumber": SERIAL}
    session.stub.add_response("assume_role", ISSUED, expected | {"TokenCode": "123456"})
    asked: list[str] = []
    with session.stub:
        credentials = assume_operator_role(
            session,
            ROLE,
            mfa_serial=SERIAL,
            mfa_code=None,
            ask=lambda prompt: asked.append(prompt) or "123456",
            session_name="compliance-officer-7",
        )
    assert asked == [f"MFA code for {SERIAL}: "]
    assert credentials.access_key == "ASIAEXAMPLEEXAMPLE00" and credentials.token == "token"


def test_expired_credentials_are_named_as_such():
    session = StubbedSession()
    session.stub.add_client_error(
        "assume_role", "ExpiredToken", "The security token included in the request is expired"
    )
    with session.stub, pytest.raises(CredentialsExpired) as refused:
        assume_operator_role(session, ROLE, mfa_serial=SERIAL, mfa_code="654321", session_name="compliance-s")
    assert refused.value.exit_code == Exit.CREDENTIALS_EXPIRED


def test_a_refusal_without_an_mfa_device_says_the_role_needs_mfa():
    session = StubbedSession()
    session.stub.add_client_error("assume_role", "AccessDenied", "not authorized", http_status_code=403)
    with session.stub, pytest.raises(NoCredentials) as refused:
        assume_operator_role(session, ROLE, mfa_serial=None, mfa_code=None, session_name="compliance-s")
    assert "requires MFA" in refused.value.message and "--mfa-serial" in refused.value.message


def test_an_mfa_code_that_is_not_six_digits_is_refused_before_calling_aws():
    with pytest.raises(NoCredentials):
        assume_operator_role(StubbedSession(), ROLE, mfa_serial=SERIAL, mfa_code="12ab", session_name="compliance-s")


@pytest.mark.parametrize(
    ("status", "payload", "kind"),
    [
        (403, {"message": "The security token included in the request is expired"}, CredentialsExpired),
        (403, {"message": "Signature expired or not yet valid."}, CredentialsExpired),
        (403, {"message": "Missing Authentication Token"}, Forbidden),
        (403, {"error": {"code": "forbidden", "message": "m", "retryable": False, "details": []}}, Forbidden),
        (404, {"error": {"code": "subject_not_found", "message": "m", "retryable": False, "details": []}}, NotFound),
        (409, {"error": {"code": "ambiguous_subject", "message": "m", "retryable": False, "details": []}}, Ambiguous),
    ],
)
def test_each_refusal_maps_to_its_own_failure(status, payload, kind):
    assert type(refusal(status, payload)) is kind


def test_the_queue_is_coloured_by_urgency_only_when_asked():
    today = datetime.now(UTC).date()
    rows = [
        {"request_id": "dsr_1", "kind": "erasure", "regulation": "gdpr", "case_reference": "C-1", "state": "failed",
         "received_at": "2026-10-01T00:00:00+00:00", "deadline": (today - timedelta(days=2)).isoformat()},
        {"request_id": "dsr_2", "kind": "export", "regulation": "gdpr", "case_reference": "C-2", "state": "received",
         "received_at": "2026-11-29T00:00:00+00:00", "deadline": (today + timedelta(days=3)).isoformat()},
        {"request_id": "dsr_3", "kind": "export", "regulation": "ccpa", "case_reference": "C-3", "state": "completed",
         "received_at": "2026-11-29T00:00:00+00:00", "deadline": (today + timedelta(days=40)).isoformat()},
    ]  # fmt: skip
    coloured = render.queue_table(rows, colour=True).splitlines()
    assert coloured[1].startswith(render.RED) and coloured[1].rstrip(render.RESET).endswith("-2")
    assert coloured[2].startswith(render.YELLOW)
    assert "\033[" not in coloured[3]  # a completed request is not urgent
    assert "\033[" not in render.queue_table(rows, colour=False)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_needs_a_terminal_and_no_NO_COLOR(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert render.use_colour(Terminal()) and not render.use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not render.use_colour(Terminal())


def test_erasure_progress_names_every_step_once_and_each_page_of_the_purge():
    progress = render.ErasureProgress()
    received = {"state": "received", "step": "freeze", "counts": {}}
    purging = {"state": "in_progress", "step": "purge", "counts": {"tokens_suppressed": 2, "keys_destroyed": 1}}
    page = {**purging, "counts": {**purging["counts"], "items_deleted": 500}}
    done = {"state": "completed", "step": "done", "counts": {**page["counts"], "items_deleted": 742}}
    assert progress.lines(received) == []
    # suppress and shred ran between two polls: still each shown, with its own count
    assert progress.lines(purging) == [
        "  freeze     done",
        "  suppress   done  tokens suppressed 2",
        "  shred      done  keys destroyed 1",
    ]
    assert progress.lines(page) == ["  purge      500 items deleted so far"]
    assert progress.lines(page) == []
    assert progress.lines(done) == ["  purge      done  items deleted 742"]
