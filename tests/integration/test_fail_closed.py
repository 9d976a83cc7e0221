"""Given encryption or tokenization cannot be applied, nothing is stored and the caller gets a clear, retryable 503."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from tests import factories
from tests.people import person
from tests.reliability import aws_hooks
from touchpoints.wiring import container


def _written(aws) -> int:
    return sum(len(items) for items in aws.all_items().values())


def test_kms_unavailable_for_a_new_person_stores_nothing(lambdas, local_aws, faults):
    # a new container must unwrap the active branch key before it can wrap a new person's data key
    faults.fail("kms", "Decrypt", "KMSInternalException", status=500)
    status, body = lambdas.post("web", factories.web(person(70)))
    assert status == 503
    assert body["error"] == {
        "code": "encryption_unavailable",
        "message": "the encryption service is unavailable; nothing was stored",
        "retryable": True,
        "details": [],
    }
    assert body["not_stored"] and body["results"] == []
    assert _written(local_aws) == 0
    assert faults.calls["Decrypt"] == 3  # the first try and two retries (SDK_CONFIG), then the error


def test_kms_unavailable_for_a_known_person_on_a_cold_container_stores_nothing(lambdas, local_aws, faults):
    p = person(71)
    lambdas.post("web", factories.web(p))
    before = local_aws.all_items()
    faults.fail("kms", "Decrypt", "DisabledException")  # and a new container must unwrap the subject key
    status, body = lambdas.post("sms", factories.sms(p, "inbound"))
    assert status == 503 and body["error"]["code"] == "encryption_unavailable"
    assert local_aws.all_items() == before


def test_a_batch_interrupted_by_kms_says_what_was_stored(lambdas, local_aws):
    known, new = person(72), person(73)
    lambdas.post("web", factories.web(known))
    lambdas.post("web", factories.web(known, "page_view"))
    # mid-rotation: the known person's key is under the first branch key version, new ones go under a second
    rotate_branch_key(local_aws)
    container.reset()
    lambdas.post("web", factories.web(known, "page_view"))  # a new container: warms up on the known person
    first, second = factories.web(known, "page_view"), factories.web(new)
    with aws_hooks.armed() as faults:
        faults.fail("kms", "Decrypt", "DisabledException")  # the second version cannot be unwrapped for the new person
        status, body = lambdas.post("web", {"touchpoints": [first, second]})
    assert status == 503
    assert [r["event_id"] for r in body["results"]] == [first["event_id"]]
    assert body["not_stored"] == [second["event_id"]]


def rotate_branch_key(aws) -> None:
    """A new branch key version made active, as `keys branch-keys start` does before its job runs."""
    from touchpoints.adapters.branch_key_admin import BranchKeyAdmin
    from touchpoints.items.branch_key import new_version

    keys = BranchKeyAdmin(aws.dynamodb, aws.kms, aws.table("BranchKeyTable"), "alias/DataKey")
    version, previous = new_version(), keys.active_version()
    keys.create_version(version, datetime.now(UTC))
    keys.activate(version, previous)


def test_tokenization_secret_unavailable_stores_nothing(lambdas, local_aws):
    boto3.client("secretsmanager").delete_secret(
        SecretId=local_aws.provisioned.intrinsics.refs["TokenizationSecret"], ForceDeleteWithoutRecovery=True
    )
    status, body = lambdas.post("email", factories.email(person(74), "open"))
    assert status == 503
    assert body["error"]["code"] == "tokenization_unavailable"
    assert _written(local_aws) == 0
