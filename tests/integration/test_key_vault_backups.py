"""Given the stack as deployed, no copy of the key vault or the identity index can outlive an erasure: neither
has point-in-time recovery, a stream or a replica, both carry the tag backup plans exclude them by, and no backup
selection (the stack's own, or the one docs/operators.md tells operators to use) can include them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

import pytest

from local_runner.emulator.template import REPO_ROOT
from tests.cloudformation import references, transformed

VAULT = "KeyVaultTable"
VAULT_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/touchpoints-KeyVaultTable-1A2B3C"
PROFILE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/touchpoints-ProfileTable-4D5E6F"
INDEX_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/touchpoints-IdentityIndexTable-7G8H9I"
NEVER_BACKED_UP = [(VAULT, VAULT_ARN), ("IdentityIndexTable", INDEX_ARN)]
NEVER = {"backup": "never"}


def _names(value: Any, logical_id: str) -> bool:
    return any(target == logical_id for target, _ in references(value))


def selects(selection: Mapping[str, Any], arn: str, tags: Mapping[str, str], logical_id: str = "") -> bool:
    """Whether an AWS Backup selection (BackupSelection's `BackupSelection`) picks this resource.

    Resources (ARN patterns) select; with none, ListOfTags alone selects by tag. NotResources drop
    what they match. ListOfTags conditions are ORed; Conditions are ANDed (StringEquals, StringLike,
    StringNotEquals, StringNotLike on aws:ResourceTag/<key>).
    """

    def matches(patterns: list[Any]) -> bool:
        return any(
            (isinstance(p, str) and fnmatchcase(arn, p)) or (logical_id and _names(p, logical_id)) for p in patterns
        )

    resources, tag_conditions = selection.get("Resources", []), selection.get("ListOfTags", [])
    if not (matches(resources) or (not resources and tag_conditions)):
        return False
    if matches(selection.get("NotResources", [])):
        return False
    if tag_conditions and not any(
        tags.get(c["ConditionKey"].removeprefix("aws:ResourceTag/")) == c["ConditionValue"] for c in tag_conditions
    ):
        return False
    tests = {
        "StringEquals": lambda value, wanted: value == wanted,
        "StringNotEquals": lambda value, wanted: value != wanted,
        "StringLike": lambda value, wanted: value is not None and fnmatchcase(value, wanted),
        "StringNotLike": lambda value, wanted: value is None or not fnmatchcase(value, wanted),
    }
    return all(
        tests[operator](tags.get(c["ConditionKey"].removeprefix("aws:ResourceTag/")), c["ConditionValue"])
        for operator, conditions in selection.get("Conditions", {}).items()
        for c in conditions
    )


def documented_selection() -> dict[str, Any]:
    blocks = re.findall(r"```json\n(.*?)```", (REPO_ROOT / "docs" / "operators.md").read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if "aws:ResourceTag/backup" in b]
    return dict(json.loads(block))


@pytest.mark.parametrize(("logical_id", "arn"), NEVER_BACKED_UP)
def test_the_vault_and_the_index_have_no_point_in_time_recovery_stream_or_replica_and_say_never_back_up(
    logical_id, arn
):
    vault = transformed()["Resources"][logical_id]
    properties = vault["Properties"]
    assert vault["Type"] == "AWS::DynamoDB::Table"  # a GlobalTable would replicate the keys
    assert properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled", False) is False
    assert "StreamSpecification" not in properties
    assert "KinesisStreamSpecification" not in properties
    assert {t["Key"]: t["Value"] for t in properties.get("Tags", [])}.items() >= NEVER.items()


@pytest.mark.parametrize(("logical_id", "arn"), NEVER_BACKED_UP)
def test_no_backup_selection_of_the_stack_can_include_the_vault_or_the_index(logical_id, arn):
    resources = transformed()["Resources"]
    tags = {t["Key"]: t["Value"] for t in resources[logical_id]["Properties"].get("Tags", [])}
    including = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Backup::BackupSelection"
        and selects(resource["Properties"]["BackupSelection"], arn, tags, logical_id)
    ]
    assert including == []
    assert not [name for name, r in resources.items() if r["Type"] == "AWS::DynamoDB::GlobalTable"]


def test_the_selection_the_operators_page_gives_backs_up_the_profile_table_but_never_the_vault_or_the_index():
    selection = documented_selection()
    assert not selects(selection, VAULT_ARN, NEVER)
    assert not selects(selection, INDEX_ARN, NEVER)
    assert selects(selection, PROFILE_ARN, {})


def test_the_selection_check_sees_selections_that_would_include_the_vault():
    everything = {"Resources": ["*"]}
    tables = {"Resources": ["arn:aws:dynamodb:*:*:table/*"]}
    by_tag = {"ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "never"}]}
    by_name = {"Resources": [{"Fn::GetAtt": [VAULT, "Arn"]}]}
    assert all(selects(s, VAULT_ARN, NEVER, VAULT) for s in (everything, tables, by_tag, by_name))
    excluded = {**tables, "NotResources": [{"Fn::GetAtt": [VAULT, "Arn"]}]}
    other_tag = {"ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "daily"}]}
    assert not any(selects(s, VAULT_ARN, NEVER, VAULT) for s in (excluded, other_tag))
