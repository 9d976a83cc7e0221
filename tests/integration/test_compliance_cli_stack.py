"""The operator tool against a deployed stack, with AWS faked by moto: the stack's outputs name the API and the
compliance role, the operator's profile (its mfa_serial in ~/.aws/config) assumes the role with an MFA code."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from compliance_cli.credentials import stack_target
from compliance_cli.errors import NoCredentials, ToolError

API_URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1"
ROLE = "arn:aws:iam::123456789012:role/touchpoints-ComplianceOperatorRole-1A2B3C"
SERIAL = "arn:aws:iam::123456789012:mfa/officer-7"


@pytest.fixture
def officer_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    config = tmp_path / "config"
    config.write_text(f"[profile officer]\nregion = eu-west-1\nmfa_serial = {SERIAL}\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[officer]\naws_access_key_id = AKIAOFFICER7EXAMPLE\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return "officer"


def deployed_stack(profile: str, name: str = "touchpoints") -> None:
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"ApiUrl": {"Value": API_URL}, "ComplianceOperatorRoleArn": {"Value": ROLE}},
    }
    boto3.session.Session(profile_name=profile).client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


def test_the_stack_outputs_and_the_profiles_mfa_device_give_a_role_session(local_aws, officer_profile, monkeypatch):
    # Given a deployed stack and an operator whose profile names an MFA device
    deployed_stack(officer_profile)
    asked = []

    # When the tool resolves where and who, the operator typing the MFA code
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "123456")
    target = stack_target(
        stack="touchpoints",
        url=None,
        profile=officer_profile,
        region=None,
        role_arn=None,
        mfa_serial=None,
        mfa_code=None,
    )

    # Then it signs for the stack's API, in its region, with a session of the compliance role, not the profile's keys
    assert target.url == API_URL and target.region == "eu-west-1"
    assert asked == [f"MFA code for {SERIAL}: "]
    assert target.credentials.access_key != "AKIAOFFICER7EXAMPLE" and target.credentials.token
    assert target.caller == f"assumed {ROLE}"


def test_a_stack_that_does_not_exist_is_named(local_aws, officer_profile):
    with pytest.raises(ToolError) as refused:
        stack_target(
            stack="nope", url=None, profile=officer_profile, region=None, role_arn=None, mfa_serial=None, mfa_code="1"
        )
    assert "stack nope" in refused.value.message


def test_an_unknown_profile_is_named(local_aws, officer_profile):
    with pytest.raises(NoCredentials):
        stack_target(
            stack="touchpoints", url=None, profile="ghost", region=None, role_arn=None, mfa_serial=None, mfa_code=None
        )
