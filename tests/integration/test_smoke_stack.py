"""Given a deployed stack (moto's), `make smoke STACK=<name>` finds what it needs: the API URL from the
stack's outputs, each channel's key value through its key id, and credentials of the compliance role."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from local_runner.commands.smoke import SmokeFailed, channel_api_keys, stack_target
from local_runner.emulator.template import load

CHANNEL_KEYS = channel_api_keys(load())
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
    ],
}


def deployed(outputs: dict[str, str]) -> None:
    """A stack whose outputs are these values (a placeholder resource: moto cannot run the SAM transform)."""
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName="touchpoints-smoke", TemplateBody=json.dumps(template))


@pytest.fixture
def stack():
    with mock_aws():
        apigateway = boto3.client("apigateway")
        keys = {logical: apigateway.create_api_key(name=logical, enabled=True) for logical in CHANNEL_KEYS.values()}
        role = boto3.client("iam").create_role(
            RoleName="touchpoints-smoke-operator", AssumeRolePolicyDocument=json.dumps(TRUST)
        )
        outputs = {f"{logical}Id": key["id"] for logical, key in keys.items()}
        outputs |= {
            "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com/v1",
            "ComplianceOperatorRoleArn": role["Role"]["Arn"],
        }
        yield keys, outputs


def test_the_smoke_test_reads_every_channel_key_and_assumes_the_operator_role(stack):
    keys, outputs = stack
    deployed(outputs)

    target = stack_target("touchpoints-smoke", boto3.session.Session(region_name="us-east-1"))

    assert set(CHANNEL_KEYS) == {"web", "app", "email", "sms", "push", "contact-center", "store"}
    assert target.api_url == outputs["ApiUrl"]
    assert target.channel_keys == {channel: keys[logical]["value"] for channel, logical in CHANNEL_KEYS.items()}
    assert target.operator.token and target.operator.access_key != target.reader.access_key


def test_a_stack_of_another_template_is_refused_with_what_is_missing(stack):
    _, outputs = stack
    outputs.pop("SmsApiKeyId")
    deployed(outputs)

    with pytest.raises(SmokeFailed, match="has no output SmsApiKeyId"):
        stack_target("touchpoints-smoke", boto3.session.Session(region_name="us-east-1"))


def test_a_missing_stack_is_a_clear_failure(stack):
    with pytest.raises(SmokeFailed, match="cannot read stack nowhere"):
        stack_target("nowhere", boto3.session.Session(region_name="us-east-1"))


def test_a_caller_already_in_a_session_of_the_operator_role_keeps_its_credentials(stack):
    _, outputs = stack
    deployed(outputs)
    assumed = boto3.client("sts").assume_role(RoleArn=outputs["ComplianceOperatorRoleArn"], RoleSessionName="alice")
    c = assumed["Credentials"]
    session = boto3.session.Session(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], region_name="us-east-1")

    target = stack_target("touchpoints-smoke", session)

    assert target.operator.access_key == target.reader.access_key == c["AccessKeyId"]
