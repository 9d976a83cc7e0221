"""Creates the template's resources in a local AWS (moto, LocalStack...) and resolves each function's environment."""

from __future__ import annotations

import importlib
import json
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_runner.emulator.template import REPO_ROOT, FunctionSpec, Intrinsics, resources_of_type

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
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket name

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

    for name in template["Resources"]:
        refs.setdefault(name, name)
        attributes[(name, "Arn")] = f"arn:aws:local:{region}:{LOCAL_ACCOUNT}:{name}"

    # Roles are not created (nothing enforces IAM locally), but their names and ARNs are what
    # functions are told to trust, e.g. the compliance operator's role.
    for name, resource in resources_of_type(template, "AWS::IAM::Role").items():
        props = resource.get("Properties", {})
        role_name = str(result.intrinsics.resolve(props.get("RoleName", name)))
        refs[name] = role_name
        attributes[(name, "Arn")] = f"arn:aws:iam::{LOCAL_ACCOUNT}:role{props.get('Path', '/')}{role_name}"
        attributes[(name, "RoleId")] = local_role_id(name)

    dynamodb = client("dynamodb")
    for name, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        table_name = _create_table(dynamodb, name, resource["Properties"], result.intrinsics)
        description = dynamodb.describe_table(TableName=table_name)["Table"]
        refs[name] = table_name
        attributes[(name, "Arn")] = description["TableArn"]
        if "LatestStreamArn" in description:
            attributes[(name, "StreamArn")] = description["LatestStreamArn"]
        result.tables[name] = table_name

    kms = client("kms")
    for name, resource in resources_of_type(template, "AWS::KMS::Key").items():
        key = _create_key(kms, name, resource["Properties"])
        refs[name], attributes[(name, "Arn")], attributes[(name, "KeyId")] = key["KeyId"], key["Arn"], key["KeyId"]

    _first_branch_key(client, result)

    secretsmanager = client("secretsmanager")
    for name, resource in resources_of_type(template, "AWS::SecretsManager::Secret").items():
        arn = _create_secret(secretsmanager, name, resource.get("Properties", {}), result.intrinsics)
        refs[name], attributes[(name, "Arn")] = arn, arn

    parameters_of_ssm = resources_of_type(template, "AWS::SSM::Parameter")
    if parameters_of_ssm:
        ssm = client("ssm")
        for name, resource in parameters_of_ssm.items():
            props = result.intrinsics.resolve(resource["Properties"])
            parameter = str(props.get("Name", name))
            ssm.put_parameter(
                Name=parameter, Value=str(props["Value"]), Type=props.get("Type", "String"), Overwrite=True
            )
            refs[name] = parameter

    queues = resources_of_type(template, "AWS::SQS::Queue")
    if queues:
        sqs = client("sqs")
        # Dead-letter queues first: the others' RedrivePolicy names them.
        for name in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n].get("Properties", {})):
            url = _create_queue(sqs, name, queues[name].get("Properties", {}), result.intrinsics)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            refs[name], attributes[(name, "Arn")], attributes[(name, "QueueName")] = url, arn, url.rsplit("/", 1)[1]
            result.queues[name] = url

    _create_buckets(template, client, result)
    for name in resources_of_type(template, "AWS::ApiGateway::ApiKey"):
        key = local_api_key(name)
        refs[name] = key.key_id
        result.api_keys[name] = key
    return result


def _first_branch_key(client: ClientFactory, result: Provisioned) -> None:
    table, kms_key = result.tables.get("BranchKeyTable"), result.intrinsics.refs.get("DataKey")
    if table and kms_key:
        first_branch_key(client("dynamodb"), client("kms"), table, kms_key)


def first_branch_key(dynamodb: Any, kms: Any, table: str, kms_key: str) -> None:
    """What an operator's first `keys branch-keys start` makes on a deployed stack (docs/keys.md), here at once (no
    function has run yet): a branch key version, sealed by KMS, and active. Nothing if the stack has one."""
    item = _layer_module("touchpoints.items.branch_key")
    if "Item" in dynamodb.get_item(TableName=table, Key=item.key(item.ACTIVE_SK)):
        return
    version = item.new_version()
    made = kms.generate_data_key_without_plaintext(
        KeyId=kms_key, KeySpec="AES_256", EncryptionContext=item.encryption_context(version)
    )
    enc = bytes(made["CiphertextBlob"])
    dynamodb.put_item(TableName=table, Item=item.version_item(version, enc, datetime.now(UTC)))
    dynamodb.put_item(TableName=table, Item=item.active_item(version, enc))


def _layer_module(name: str) -> Any:
    """One of the layer's item schemas (they import nothing of the layer): the runner's own process has no layer on
    its path, the functions do."""
    layer = str(REPO_ROOT / "shared")
    if layer not in sys.path:
        sys.path.append(layer)
    return importlib.import_module(name)


def local_role_id(logical_id: str) -> str:
    return "AROALOCAL" + "".join(c for c in logical_id.upper() if c.isalnum())[:12]


def _error_code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def _create_table(dynamodb: Any, logical_id: str, props: Mapping[str, Any], intrinsics: Intrinsics) -> str:
    table_name = str(intrinsics.resolve(props.get("TableName", logical_id)))
    try:
        dynamodb.describe_table(TableName=table_name)
        return table_name  # an endpoint that already has it (LocalStack, DynamoDB Local, a second run)
    except Exception as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
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


def _create_key(kms: Any, logical_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
    alias = f"alias/{logical_id}"  # what env.json names
    try:
        return dict(kms.describe_key(KeyId=alias)["KeyMetadata"])
    except Exception as error:
        if _error_code(error) != "NotFoundException":
            raise
    key = kms.create_key(Description=str(props.get("Description", logical_id)))["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return dict(key)


def _create_secret(secretsmanager: Any, logical_id: str, props: Mapping[str, Any], intrinsics: Intrinsics) -> str:
    name = str(intrinsics.resolve(props.get("Name", logical_id)))
    value = intrinsics.resolve(props["SecretString"]) if "SecretString" in props else secrets.token_urlsafe(48)
    try:
        return str(secretsmanager.create_secret(Name=name, SecretString=str(value))["ARN"])
    except Exception as error:
        if _error_code(error) != "ResourceExistsException":
            raise
    return str(secretsmanager.describe_secret(SecretId=name)["ARN"])


def _create_queue(sqs: Any, logical_id: str, props: Mapping[str, Any], intrinsics: Intrinsics) -> str:
    attributes = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "DelaySeconds",
        "FifoQueue",
        "ContentBasedDeduplication",
    ):
        if key in props:
            value = intrinsics.resolve(props[key])
            attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(intrinsics.resolve(props["RedrivePolicy"]))
    suffix = ".fifo" if attributes.get("FifoQueue") == "true" else ""
    name = str(intrinsics.resolve(props.get("QueueName", logical_id + suffix)))
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except Exception as error:
        if _error_code(error) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _create_buckets(template: Mapping[str, Any], client: ClientFactory, result: Provisioned) -> None:
    buckets = resources_of_type(template, "AWS::S3::Bucket")
    if not buckets:
        return
    s3 = client("s3")
    for name, resource in buckets.items():
        bucket = _create_bucket(s3, name, resource.get("Properties", {}), result.intrinsics)
        result.intrinsics.refs[name] = bucket
        result.intrinsics.attributes[(name, "Arn")] = f"arn:aws:s3:::{bucket}"
        result.buckets[name] = bucket


def _create_bucket(s3: Any, logical_id: str, props: Mapping[str, Any], intrinsics: Intrinsics) -> str:
    """The bucket with its encryption, public access block and lifecycle; bucket policies name IAM roles,
    which are not created locally, so they are left out like the roles themselves."""
    name = str(intrinsics.resolve(props.get("BucketName", f"{LOCAL_STACK}-{logical_id.lower()}")))
    try:
        s3.create_bucket(Bucket=name)
    except Exception as error:
        if _error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    resolved = intrinsics.resolve(dict(props))
    if "BucketEncryption" in resolved:
        encryption = _encryption_rules(resolved["BucketEncryption"])
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=encryption)
    if "PublicAccessBlockConfiguration" in resolved:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=resolved["PublicAccessBlockConfiguration"]
        )
    lifecycle = resolved.get("LifecycleConfiguration", {}).get("Rules", [])
    if lifecycle:
        rules = [
            {"ID": rule.get("Id", logical_id), "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
            | ({"Expiration": {"Days": rule["ExpirationInDays"]}} if "ExpirationInDays" in rule else {})
            for rule in lifecycle
        ]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    return name


def _encryption_rules(encryption: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's BucketEncryption, in the shape of S3's PutBucketEncryption."""
    rules = []
    for rule in encryption["ServerSideEncryptionConfiguration"]:
        applied = {"ApplyServerSideEncryptionByDefault": dict(rule["ServerSideEncryptionByDefault"])}
        if "BucketKeyEnabled" in rule:
            applied["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
        rules.append(applied)
    return {"Rules": rules}
