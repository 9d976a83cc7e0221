"""Given template.yaml's IAM policies, each function is granted only what its code calls.

Channel functions are checked both ways: every AWS call recorded (at the SDK boundary) while they
handle every kind of request is granted (or AWS would refuse it), and every grant is used by one
of those calls. Every function must also avoid wildcards and the actions a channel never needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from tests import contact_helpers, factories
from tests.conftest import FUNCTIONS, TEMPLATE
from tests.factories import CHANNEL_API_KEYS, CHANNEL_FUNCTIONS
from tests.people import person
from tests.reliability import aws_hooks
from touchpoints.contact.policy import load_contact_policy
from touchpoints.model import Channel
from touchpoints.sdk.policy import load_sdk_policy
from touchpoints.wiring import container

Grant = tuple[str, str]  # (action, resource logical id, e.g. "ProfileTable" or "ProfileTable/index/StateIndex")

# AWS actions that may only be granted on "*" (none of our functions needs one today).
RESOURCE_STAR_ALLOWED: frozenset[str] = frozenset()
CHANNEL_FORBIDDEN_PREFIXES = ("dynamodb:Delete", "dynamodb:Scan", "dynamodb:BatchWrite", "kms:Encrypt", "kms:ReEncrypt")
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _logical(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    if "Ref" in resource:
        return str(resource["Ref"])
    if "Fn::Sub" in resource:
        text = resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0]
        text = text.removeprefix("arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys/")  # an API key
        return text.replace("${", "").replace(".Arn}", "").replace("}", "")
    raise AssertionError(f"unexpected resource {resource!r}")


def statements(logical_id: str) -> list[dict[str, Any]]:
    properties = TEMPLATE["Resources"][logical_id]["Properties"]
    found = []
    for policy in properties.get("Policies", []):
        assert isinstance(policy, dict) and "Statement" in policy, (
            f"{logical_id}: use inline statements, not managed policies"
        )
        found.extend(policy["Statement"])
    return found


def granted(logical_id: str) -> set[Grant]:
    grants = set()
    for statement in statements(logical_id):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        grants |= {(action, _logical(resource)) for action in actions for resource in resources}
    return grants


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_no_function_has_wildcard_actions_or_resources(logical_id):
    for action, resource in granted(logical_id):
        assert "*" not in action, f"{logical_id}: wildcard action {action}"
        assert resource != "*" or action in RESOURCE_STAR_ALLOWED, f"{logical_id}: {action} on *"


@pytest.mark.parametrize("logical_id", sorted(CHANNEL_FUNCTIONS.values()))
def test_channel_functions_cannot_delete_scan_or_encrypt(logical_id):
    for action, resource in granted(logical_id):
        assert not action.startswith(CHANNEL_FORBIDDEN_PREFIXES), f"{logical_id}: {action} on {resource}"
        assert resource in {
            "ProfileTable",
            "KeyVaultTable",
            "BranchKeyTable",
            "IdentityIndexTable",
            "DataKey",
            "TokenizationSecret",
        } or ((action, resource) == ("apigateway:GET", f"{logical_id.removesuffix('ChannelFunction')}ApiKey")), (
            action,
            resource,
        )


def used(calls: Iterable[aws_hooks.Call], provisioned: Any) -> set[Grant]:
    """The IAM action and resource each recorded SDK call needs."""
    tables = {name: logical for logical, name in provisioned.tables.items()}
    refs = provisioned.intrinsics.refs
    others = {refs["DataKey"]: "DataKey", "alias/DataKey": "DataKey"}
    others |= {refs["TokenizationSecret"]: "TokenizationSecret", "TokenizationSecret": "TokenizationSecret"}
    api_keys = {key.key_id: logical for logical, key in provisioned.api_keys.items()}
    needs: set[Grant] = set()
    for call in calls:
        service = {"secrets-manager": "secretsmanager"}.get(call.service, call.service)
        if call.operation == "TransactWriteItems":
            for item in call.params["TransactItems"]:
                ((kind, op),) = item.items()
                needs.add((f"dynamodb:{_TRANSACT_ACTIONS[kind]}", tables[op["TableName"]]))
        elif call.operation in ("BatchGetItem", "BatchWriteItem"):
            needs |= {(f"dynamodb:{call.operation}", tables[name]) for name in call.params["RequestItems"]}
        elif service == "dynamodb":
            resource = tables[call.params["TableName"]]
            if "IndexName" in call.params:
                resource += f"/index/{call.params['IndexName']}"
            needs.add((f"dynamodb:{call.operation}", resource))
        elif call.operation == "GetApiKey":  # IAM names API Gateway's actions by HTTP method
            needs.add(("apigateway:GET", api_keys[call.params["apiKey"]]))
        else:
            key = call.params.get("KeyId") or call.params.get("SecretId")
            needs.add((f"{service}:{call.operation}", others[key]))
    return needs


def every_kind_of_request(lambdas: Any, channel: str) -> None:
    """New person (also on a stack before its first branch key), known person in a cold container, duplicate,
    consent change, batch, a batch resent whole."""
    builder = factories.CHANNEL_PAYLOADS[channel]
    with factories.before_first_branch_key(lambdas.aws):  # data keys made by KMS, as before the key hierarchy
        assert lambdas.post(channel, builder(person(860 + list(CHANNEL_FUNCTIONS).index(channel))))[0] == 200
    p = person(800 + list(CHANNEL_FUNCTIONS).index(channel))
    first = builder(p)
    assert lambdas.post(channel, first)[0] == 200
    assert lambdas.post(channel, first)[0] == 200  # duplicate
    container.reset()  # a new container of the same function: it must unwrap the person's key
    batch = {"touchpoints": [builder(p), builder(p)]}
    assert lambdas.post(channel, batch)[0] == 200
    assert lambdas.post(channel, batch)[0] == 200  # resent whole: past its first duplicate, each is read first
    consent = {
        "event_id": factories.event_id("cns"),
        "occurred_at": factories.occurred(30),
        "subject": {"email": p.email},
        "consent": [{"purpose": "marketing", "channel": "all", "granted": False}],
    }
    assert lambdas.post(channel, consent, resource="consents")[0] == 200
    if channel in {c.value for c in load_contact_policy().channels}:
        kind = load_contact_policy().channels[Channel(channel)][0]
        decisions = contact_helpers.decisions_body([contact_helpers.daytime({"email": p.email})], reserve=True)
        assert lambdas.post(channel, decisions, resource="contact-decisions")[0] == 200
        sent = {"contacts": [contact_helpers.contact({"email": p.email}, kind)]}
        assert lambdas.post(channel, sent, resource="contacts")[0] == 200
    if load_sdk_policy().channels[Channel(channel)].browser:
        beacon = {
            "writeKey": f"local-key-{CHANNEL_API_KEYS[channel]}",
            "type": "page",
            "anonymousId": "anon-iam",
            "messageId": "iam-1",
        }
        event = factories.api_event("POST", f"/sdk/{channel}/browser/p", beacon, headers={"Content-Type": "text/plain"})
        assert lambdas.invoke(CHANNEL_FUNCTIONS[channel], event)["statusCode"] == 200


@pytest.mark.parametrize("channel", sorted(CHANNEL_FUNCTIONS))
def test_channel_function_policies_grant_exactly_what_the_code_calls(lambdas, local_aws, channel):
    logical_id = CHANNEL_FUNCTIONS[channel]
    with aws_hooks.recording() as calls:
        every_kind_of_request(lambdas, channel)
    needed = used(calls, local_aws.provisioned)
    grants = granted(logical_id)
    assert needed - grants == set(), f"{logical_id} would be refused by AWS"
    assert grants - needed == set(), f"{logical_id} is granted more than it uses"


def test_classifier_and_reclassifier_policies_grant_exactly_what_they_call(lambdas, local_aws, monkeypatch):
    from tests import streams
    from tests.integration.test_classifier_stream import SOURCE, Pipeline
    from tests.integration.test_reclassification_sweep import age, signed_up, sweep

    monkeypatch.setenv("RECLASSIFY_LOOKBACK_DAYS", "366")
    pipeline = Pipeline(lambdas, local_aws)
    first = pipeline.post("web", factories.web(person(820)))
    leaving = pipeline.post("web", factories.web(person(822)))
    with aws_hooks.recording() as calls:
        pipeline.pump()
        # Delivered again (a retried batch): the classifier reads back the profile and the fate of the batch
        # that counted it (touchpoints.classification.counts)
        assert pipeline.deliver(streams.passing(SOURCE.filters, pipeline.read)) == []
    # Reading the stream is the event source mapping's work (Lambda's service role), not the function's.
    classifier_calls = [call for call in calls if call.service == "dynamodb"]
    # A person who leaves (an erasure froze the profile) leaves every audience: the classifier deletes memberships.
    local_aws.dynamodb.update_item(
        TableName=local_aws.table("ProfileTable"),
        Key={"pk": {"S": f"SUBJECT#{leaving}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET #st = :erasing",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":erasing": {"S": "erasing"}},
    )
    with aws_hooks.recording() as left:
        pipeline.pump()
    classifier_calls += [call for call in left if call.service == "dynamodb"]

    dropped = pipeline.post("app", factories.app(person(823)))
    pipeline.pump()
    age(pipeline, dropped, 400)  # due: changed, its trace gone, and so its audience of a program that needs one
    age(pipeline, first, 366)  # due: refreshed
    age(pipeline, signed_up(pipeline, 821), 400)  # due: changed
    with aws_hooks.recording() as sweep_calls:
        outcomes = sweep(pipeline)
        after_a_rules_deploy = lambdas.invoke("ReclassifierFunction", {"reclassify": "outdated_rules"})
        counted = lambdas.invoke("ReclassifierFunction", {"reclassify": "count_existing"})
    assert outcomes["refreshed"] == 1 and outcomes["changed"] == 2
    assert after_a_rules_deploy["complete"] and counted["complete"]

    for logical_id, recorded in (("ClassifierFunction", classifier_calls), ("ReclassifierFunction", sweep_calls)):
        needed, grants = used(recorded, local_aws.provisioned), granted(logical_id)
        assert needed - grants == set(), f"{logical_id} would be refused by AWS"
        assert grants - needed == set(), f"{logical_id} is granted more than it uses"


def test_the_compliance_function_writes_exports_only_where_and_how_its_policy_says(lambdas, local_aws, monkeypatch):
    import requests

    from tests.conftest import find_pii
    from tests.integration.compliance_helpers import call

    # Given the compliance function deployed to send every export through the export bucket
    monkeypatch.setitem(FUNCTIONS["ComplianceApiFunction"].environment, "EXPORT_INLINE_MAX_BYTES", "0")
    p = person(830)
    assert lambdas.post("web", factories.web(p))[0] == 200

    # When it exports a person
    with aws_hooks.recording() as calls:
        code, answer = call(
            lambdas, "POST", "exports", {"subject": {"email": p.email}, "regulation": "gdpr", "case_reference": "C-1"}
        )
    assert code == 200, answer

    # Then it put one object under exports/, encrypted with the stack's key as the bucket demands, and signed a
    # GetObject of it (the link: presigned, not sent, but S3 will check the signer may GetObject)
    s3_calls = [c for c in calls if c.service == "s3"]
    assert [(c.operation, c.params["Key"].split("/")[0]) for c in s3_calls] == [
        ("PutObject", "exports"),
        ("GetObject", "exports"),
    ]
    key_arn = local_aws.provisioned.intrinsics.attributes[("DataKey", "Arn")]
    assert s3_calls[0].params["ServerSideEncryption"] == "aws:kms" and s3_calls[0].params["SSEKMSKeyId"] == key_arn
    # and its policy grants exactly that, plus GetObject on the same prefix: S3 serves a link as its signer
    grants = {(a, r) for a, r in granted("ComplianceApiFunction") if a.startswith("s3:")}
    assert grants == {("s3:PutObject", "ExportBucket/exports/*"), ("s3:GetObject", "ExportBucket/exports/*")}
    # and KMS only through S3, for that prefix
    (via_s3,) = [s for s in statements("ComplianceApiFunction") if s["Sid"] == "EncryptExportsViaS3"]
    assert via_s3["Action"] == ["kms:GenerateDataKey"]
    assert set(via_s3["Condition"]["StringEquals"]) == {"kms:ViaService"}
    assert set(via_s3["Condition"]["StringLike"]) == {"kms:EncryptionContext:aws:s3:arn"}
    # and the link it signed serves the export
    assert requests.get(answer["url"], timeout=30).json()["request_id"] == answer["request_id"]
    assert not find_pii(json.dumps(answer))


def test_the_export_bucket_is_private_encrypted_tls_only_and_expiring():
    bucket = TEMPLATE["Resources"]["ExportBucket"]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert 0 < bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] <= 7
    policy = TEMPLATE["Resources"]["ExportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in policy}
    assert by_sid["TlsOnly"]["Effect"] == "Deny" and by_sid["TlsOnly"]["Condition"]["Bool"] == {
        "aws:SecureTransport": "false"
    }
    readers = by_sid["OnlyComplianceReads"]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert {r["Fn::GetAtt"][0] for r in readers} == {"ComplianceOperatorRole", "ComplianceApiFunctionRole"}
    # No other function may touch the bucket
    for logical_id in FUNCTIONS:
        if logical_id != "ComplianceApiFunction":
            assert not any(r.startswith("ExportBucket") for _, r in granted(logical_id)), logical_id


def test_the_export_bucket_policy_names_the_role_sam_creates_for_the_compliance_function():
    import copy

    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    # Given the template as CloudFormation receives it: transformed by SAM, code already packaged to S3
    template = copy.deepcopy(TEMPLATE)
    for resource in template["Resources"].values():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://artifacts/code.zip"
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    resources = transform(template, pseudo, NoManagedPolicies())["Resources"]

    # Then the role the bucket policy lets read exists, and it is the compliance function's, with the export grants
    assert resources["ComplianceApiFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["ComplianceApiFunctionRole", "Arn"]
    }
    role = resources["ComplianceApiFunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    sids = {s.get("Sid") for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert {"LargeExports", "EncryptExportsViaS3"} <= sids
    assert resources["ExportBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "ExportBucket"}


def test_the_deadline_check_policy_grants_exactly_what_it_calls(lambdas, local_aws):
    from tests.integration.compliance_helpers import erase

    p = person(822)
    lambdas.post("sms", factories.sms(p))
    assert erase(lambdas, {"phone": p.phone})[0] == 202
    with aws_hooks.recording() as calls:
        answer = lambdas.invoke(
            "ErasureDeadlineCheckFunction", factories.load_event("erasure-deadline-check-hourly.json")
        )
    assert answer["open"] == 1
    needed, grants = used(calls, local_aws.provisioned), granted("ErasureDeadlineCheckFunction")
    assert needed - grants == set(), "ErasureDeadlineCheckFunction would be refused by AWS"
    assert grants - needed == set(), "ErasureDeadlineCheckFunction is granted more than it uses"
