"""Reads template.yaml the way SAM does, for the local runner and the tests.

Only what this project uses is understood: Parameters, Globals.Function, Serverless
functions with Api/DynamoDB/SQS events, and the intrinsics Ref, GetAtt, Sub, Join, If-less.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]  # local_runner/emulator/template.py -> the repository
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags as their long form (!Ref x → {"Ref": x})."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True)
class ApiRoute:
    path: str
    method: str
    auth: str  # "api_key", "iam", "authorizer" or "none"
    api: str = ""  # logical id of the AWS::Serverless::Api
    authorizer: str | None = None  # the name of the API's Lambda authorizer, when auth is "authorizer"
    api_key_required: bool = False


@dataclass(frozen=True)
class LambdaAuthorizer:
    """A Lambda REQUEST authorizer of an API's `Auth.Authorizers`."""

    function: str  # logical id
    identity_headers: tuple[str, ...]
    ttl_seconds: int = 300


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    api_key_source: str = "HEADER"  # or AUTHORIZER: the key is the authorizer's usageIdentifierKey
    binary_media_types: tuple[str, ...] = ()
    authorizers: dict[str, LambdaAuthorizer] = field(default_factory=dict)
    # response type (UNAUTHORIZED, INVALID_API_KEY, DEFAULT_4XX...) -> (status or None, application/json template)
    gateway_responses: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)


def apis(template: Mapping[str, Any]) -> dict[str, ApiSpec]:
    specs = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Api":
            continue
        props = resource.get("Properties", {})
        authorizers = {
            auth_name: LambdaAuthorizer(
                _logical_of(auth["FunctionArn"]),
                tuple(auth.get("Identity", {}).get("Headers", [])),
                int(auth.get("Identity", {}).get("ReauthorizeEvery", 300)),
            )
            for auth_name, auth in props.get("Auth", {}).get("Authorizers", {}).items()
            if "FunctionArn" in auth
        }
        responses = {
            kind: (
                int(response["StatusCode"]) if "StatusCode" in response else None,
                response.get("ResponseTemplates", {}).get("application/json"),
            )
            for kind, response in props.get("GatewayResponses", {}).items()
        }
        specs[name] = ApiSpec(
            name,
            str(props.get("ApiKeySourceType", "HEADER")),
            tuple(str(t).replace("~1", "/") for t in props.get("BinaryMediaTypes", [])),
            authorizers,
            responses,
        )
    return specs


@dataclass(frozen=True)
class StreamSource:
    table: str  # logical id
    batch_size: int
    filters: tuple[dict[str, Any], ...]
    starting_position: str
    report_batch_item_failures: bool
    maximum_retry_attempts: int = -1  # -1: until the record expires, as in AWS
    bisect_batch_on_error: bool = False
    on_failure: str | None = None  # logical id of the OnFailure destination (an SQS queue)


@dataclass(frozen=True)
class QueueSource:
    queue: str  # logical id
    batch_size: int
    report_batch_item_failures: bool
    filters: tuple[dict[str, Any], ...] = ()


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any]
    routes: list[ApiRoute] = field(default_factory=list)
    streams: list[StreamSource] = field(default_factory=list)
    queues: list[QueueSource] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)  # EventBridge expressions; run them with `invoke`
    timeout: int = 3
    memory_size: int = 128
    layers: list[str] = field(default_factory=list)  # logical ids of the function's layers

    @property
    def module(self) -> str:
        """The handler's import path as the tests and the runner use it, e.g. functions.channel_web.app."""
        package = self.code_uri.strip("/").replace("/", ".")
        return f"{package}.{self.handler.rsplit('.', 1)[0]}"

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def _logical_of(ref: Any) -> str:
    if isinstance(ref, dict):
        if "Ref" in ref:
            return str(ref["Ref"])
        if "Fn::GetAtt" in ref:
            return str(ref["Fn::GetAtt"][0])
    return str(ref)


def functions(template: Mapping[str, Any]) -> list[FunctionSpec]:
    defaults = template.get("Globals", {}).get("Function", {})
    api_auth = {
        name: res.get("Properties", {}).get("Auth", {})
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Api"
    }
    specs = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        environment = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        spec = FunctionSpec(
            name,
            props["CodeUri"],
            props["Handler"],
            environment,
            timeout=int(props.get("Timeout", defaults.get("Timeout", 3))),
            memory_size=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
            layers=[_logical_of(layer) for layer in [*defaults.get("Layers", []), *props.get("Layers", [])]],
        )
        for event in props.get("Events", {}).values():
            ep = event.get("Properties", {})
            if event["Type"] == "Api":
                auth = ep.get("Auth", {})
                api = _logical_of(ep.get("RestApiId"))
                api_defaults = api_auth.get(api, {})
                key_required = bool(auth.get("ApiKeyRequired", api_defaults.get("ApiKeyRequired", False)))
                authorizer = auth.get("Authorizer", api_defaults.get("DefaultAuthorizer"))
                if authorizer == "AWS_IAM":
                    kind, authorizer = "iam", None
                elif authorizer and authorizer != "NONE":
                    kind = "authorizer"
                elif key_required:
                    kind, authorizer = "api_key", None
                else:
                    kind, authorizer = "none", None
                spec.routes.append(ApiRoute(ep["Path"], ep["Method"].upper(), kind, api, authorizer, key_required))
            elif event["Type"] == "DynamoDB":
                spec.streams.append(
                    StreamSource(
                        table=_logical_of(ep["Stream"]),
                        batch_size=int(ep.get("BatchSize", 100)),
                        filters=tuple(f["Pattern"] for f in ep.get("FilterCriteria", {}).get("Filters", [])),
                        starting_position=ep.get("StartingPosition", "LATEST"),
                        report_batch_item_failures="ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
                        maximum_retry_attempts=int(ep.get("MaximumRetryAttempts", -1)),
                        bisect_batch_on_error=bool(ep.get("BisectBatchOnFunctionError", False)),
                        on_failure=_on_failure_destination(ep),
                    )
                )
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                spec.schedules.append(str(ep.get("ScheduleExpression") or ep.get("Schedule")))
            elif event["Type"] == "SQS":
                spec.queues.append(
                    QueueSource(
                        queue=_logical_of(ep["Queue"]),
                        batch_size=int(ep.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
                        filters=tuple(f["Pattern"] for f in ep.get("FilterCriteria", {}).get("Filters", [])),
                    )
                )
        specs.append(spec)
    return specs


def _on_failure_destination(event_properties: Mapping[str, Any]) -> str | None:
    destination = event_properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    return None if destination is None else _logical_of(destination)


def layer_paths(template: Mapping[str, Any], spec: FunctionSpec) -> list[Path]:
    """Where the function's layers come from (ContentUri), as `sam build` would put them on /opt/python."""
    resources = template["Resources"]
    return [
        REPO_ROOT / str(resources[layer]["Properties"]["ContentUri"])
        for layer in spec.layers
        if resources.get(layer, {}).get("Type") in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
        and "ContentUri" in resources[layer]["Properties"]
    ]


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


@dataclass
class Intrinsics:
    """Resolves Ref / GetAtt / Sub / Join against the locally provisioned resources."""

    refs: dict[str, str]
    attributes: dict[tuple[str, str], str]

    def resolve(self, value: Any) -> Any:  # noqa: PLR0911 - one branch per intrinsic
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self.refs[value["Ref"]]
        if "Fn::GetAtt" in value:
            logical, attribute = value["Fn::GetAtt"]
            return self.attributes[(logical, attribute)]
        if "Fn::Sub" in value:
            text, extra = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            return _SUB_VARIABLE.sub(lambda m: self._sub_variable(m.group(1), extra), text)
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(p)) for p in parts)
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub_variable(self, name: str, extra: Mapping[str, Any]) -> str:
        if name in extra:
            return str(self.resolve(extra[name]))
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self.attributes[(logical, attribute)]
        return self.refs[name]
