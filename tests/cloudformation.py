"""template.yaml as CloudFormation receives it from `sam deploy`: packaged, then SAM-transformed.

`sam deploy` uploads each local `CodeUri`/`ContentUri` to S3 and puts the S3 URI in their
place; CloudFormation then runs the SAM transform (samtranslator, which ships with the SAM CLI)
with the stack's parameter values, their defaults and the pseudo parameters. This does the same
without an AWS account: fake S3 URIs and fixed pseudo-parameter values.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from local_runner.emulator.template import TEMPLATE_PATH

PSEUDO_PARAMETERS: dict[str, Any] = {
    "AWS::AccountId": "123456789012",
    "AWS::NotificationARNs": [],
    "AWS::NoValue": None,
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/touchpoints/0d3e1f5a",
    "AWS::StackName": "touchpoints",
    "AWS::URLSuffix": "amazonaws.com",
}
_PACKAGED_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


def sam_template() -> dict[str, Any]:
    """template.yaml parsed as the SAM CLI parses it (short-form intrinsics in their long form)."""
    return dict(yaml_parse(TEMPLATE_PATH.read_text()))


def packaged(template: Mapping[str, Any]) -> dict[str, Any]:
    """What `sam package` leaves: every local code path replaced by an S3 URI."""
    result = copy.deepcopy(dict(template))
    for logical_id, resource in result.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        for name in _PACKAGED_PROPERTIES:
            if isinstance(properties.get(name), str) and not properties[name].startswith("s3://"):
                properties[name] = f"s3://packaged-artifacts/{logical_id}/{name}.zip"
    return result


def _no_managed_policy_names() -> dict[str, str]:
    raise AssertionError("a policy names an AWS managed policy by name: resolving it needs an account; use its ARN")


def transformed(parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation template the stack is made of (parameters left to their defaults)."""
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    values: dict[str, Any] = {**PSEUDO_PARAMETERS, **(parameters or {})}
    return dict(
        translator.translate(
            packaged(sam_template()), parameter_values=values, get_managed_policy_map=_no_managed_policy_names
        )
    )


def references(value: Any) -> Iterator[tuple[str, str]]:
    """Every (logical id or parameter, intrinsic) a fragment names through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and isinstance(argument, str):
            yield argument, "Ref"
            return
        if key == "Fn::GetAtt":
            target = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
            yield str(target), "Fn::GetAtt"
            yield from references(argument[1:] if isinstance(argument, list) else [])
            return
        if key == "Fn::Sub":
            text, local = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            yield from _sub_variables(text, local)
            yield from references(local)
            return
    for item in value.values():
        yield from references(item)


def _sub_variables(text: str, local: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    start = text.find("${")
    while start != -1:
        end = text.find("}", start)
        if end == -1:
            return
        name = text[start + 2 : end]
        if not name.startswith("!") and name not in local:
            yield name.split(".", 1)[0], "Fn::Sub"
        start = text.find("${", end)
