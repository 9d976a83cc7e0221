"""Creates the template's resources in a local AWS (moto, LocalStack...) and resolves each function's environment."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_runner.template import REPO_ROOT, FunctionSpec, Intrinsics, resources_of_type

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"
LOCAL_STACK = "local"
ENV_JSON = REPO_ROOT / "env.json"

ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class LocalApiKey:
    logical_id: str
    key_id: str
    value: str


def local_api_key(logical_id: str) -> LocalApiKey:
    """Deterministic local credentials, so env.json, events/ and curl examples agree."""
    return LocalApiKey(logical_id, f"local-{logical_id}", f"local-key-{logical_id}")


@dataclass
class Provisioned:
    intrinsics: Intrinsics
    api_keys: dict[str, LocalApiKey] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL

    def environment(self, spec: FunctionSpec, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Globals + function variables, resolved, then env.json (`Parameters`, then the function's own)."""
        resolved = {k: str(self.intrinsics.resolve(v)) for k, v in spec.environment.items()}
        overrides = load_env_json() if overrides is None else overrides
        for scope in ("Parameters", spec.logical_id):
            for key, value in overrides.get(scope, {}).items():
                if key in resolved:  # like sam local: only variables the template declares
                    resolved[key] = str(value)
        return resolved


def load_env_json(path: Path = ENV_JSON) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _pseudo_parameters(region: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": LOCAL_ACCOUNT,
        "AWS::StackName": LOCAL_STACK,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def provision(
    template: Mapping[str, Any],
    client: ClientFactory,
    parameters: Mapping[str, str] | None = None,
    region: str = LOCAL_REGION,
) -> Provisioned:
    refs: dict[str, str] = _pseudo_parameters(region)
    for name, spec in template.get("Parameters", {}).items():
        refs[name] = str((parameters or {}).get(name, spec.get("Default", "")))
    result = Provisioned(Intrinsics(refs, {}))
    attributes = result.intrinsics.attributes

    for name, resource in template["Resources"].items():
        refs.setdefault(name, name)
        attributes[(name, "Arn")] = f"arn:aws:local:{region}:{LOCAL_ACCOUNT}:{name}"

    dynamodb = client("dynamodb")
    for name, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        table_name = _create_table(dynamodb, name, resource["Properties"])
        description = dynamodb.describe_table(TableName=table_name)["Table"]
        refs[name] = table_name
        attributes[(name, "Arn")] = description["TableArn"]
        if "LatestStreamArn" in description:
            attributes[(name, "StreamArn")] = description["LatestStreamArn"]
        result.tables[name] = table_name

    kms = client("kms")
    for name, resource in resources_of_type(template, "AWS::KMS::Key").items():
        key = kms.create_key(Description=resource["Properties"].get("Description", name))["KeyMetadata"]
        kms.create_alias(AliasName=f"alias/{name}", TargetKeyId=key["KeyId"])  # what env.json names
        refs[name], attributes[(name, "Arn")] = key["KeyId"], key["Arn"]

    secretsmanager = client("secretsmanager")
    for name in resources_of_type(template, "AWS::SecretsManager::Secret"):
        arn = secretsmanager.create_secret(Name=name, SecretString=secrets.token_urlsafe(48))["ARN"]
        refs[name], attributes[(name, "Arn")] = arn, arn

    queues = resources_of_type(template, "AWS::SQS::Queue")
    if queues:
        sqs = client("sqs")
        # Dead-letter queues first: the others' RedrivePolicy names them.
        for name in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n].get("Properties", {})):
            url = _create_queue(sqs, name, queues[name].get("Properties", {}), result.intrinsics)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            refs[name], attributes[(name, "Arn")], attributes[(name, "QueueName")] = url, arn, url.rsplit("/", 1)[1]
            result.queues[name] = url

    for name in resources_of_type(template, "AWS::ApiGateway::ApiKey"):
        key = local_api_key(name)
        refs[name] = key.key_id
        result.api_keys[name] = key
    return result


def _create_table(dynamodb: Any, logical_id: str, props: Mapping[str, Any]) -> str:
    table_name = str(props.get("TableName", logical_id))
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    dynamodb.create_table(**request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    return table_name


def _create_queue(sqs: Any, logical_id: str, props: Mapping[str, Any], intrinsics: Intrinsics) -> str:
    attributes = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "DelaySeconds"):
        if key in props:
            attributes[key] = str(props[key])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(intrinsics.resolve(props["RedrivePolicy"]))
    name = str(intrinsics.resolve(props.get("QueueName", logical_id)))
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
