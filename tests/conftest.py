"""Fixtures: an embedded AWS built from template.yaml, handler invocation, and the PII leak guard."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

# Lambda-like defaults before any handler module (and its Powertools singletons) is imported.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "touchpoint-ingestion",
        "POWERTOOLS_METRICS_NAMESPACE": "CustomerTouchpoints",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
)
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "ENDPOINT_URL"):
    os.environ.pop(_name, None)

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from local_runner.commands.demo_data import stack_secret  # noqa: E402
from local_runner.emulator import template as cfn  # noqa: E402
from local_runner.emulator.moto_fixes import hold_api_keys, install  # noqa: E402
from local_runner.emulator.provision import LOCAL_ACCOUNT, LOCAL_REGION, Provisioned, provision  # noqa: E402
from tests import factories  # noqa: E402
from tests.factories import CHANNEL_API_KEYS, CHANNEL_FUNCTIONS, api_event, lambda_context  # noqa: E402
from tests.people import registered_pii  # noqa: E402
from touchpoints.observability import logger  # noqa: E402
from touchpoints.privacy.tokenizer import Tokenizer  # noqa: E402
from touchpoints.wiring import container  # noqa: E402

pytest_plugins = ["tests.reliability.tally"]
install()  # the moto the runner and the benchmarks run (local_runner.emulator.moto_speed), held to moto's own by tests

TEMPLATE = cfn.load()
FUNCTIONS = {spec.logical_id: spec for spec in cfn.functions(TEMPLATE)}


class _LeakSink(io.StringIO):
    """Everything the service logs, prints (EMF metrics) or answers, for the leak check."""


LEAK_SINK = _LeakSink()
for _handler in logger.handlers:
    if hasattr(_handler, "setStream"):
        _handler.setStream(LEAK_SINK)


def find_pii(text: str) -> set[str]:
    lowered = text.lower()
    return {value for value in registered_pii() if value.lower() in lowered}


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Tee stdout (EMF metrics) into the leak sink for the test body too: pytest's capture replaces
    sys.stdout when the call phase starts, after fixtures ran, so this wraps inside it."""
    original = sys.stdout
    sys.stdout = _Tee(original, LEAK_SINK)
    try:
        return (yield)
    finally:
        sys.stdout = original


@pytest.fixture(autouse=True)
def no_pii_in_output() -> Iterator[None]:
    """Every test: nothing logged, printed or answered may contain a registered personal value."""
    start = LEAK_SINK.tell()
    original = sys.stdout
    sys.stdout = _Tee(original, LEAK_SINK)
    try:
        yield
    finally:
        sys.stdout = original
    LEAK_SINK.seek(start)
    captured = LEAK_SINK.read()
    leaked = find_pii(captured)
    LEAK_SINK.seek(0, io.SEEK_END)
    from tests.reliability import tally  # imported late: it is also this suite's pytest plugin

    tally.add("leak_scans")
    tally.add("bytes_scanned", len(captured.encode("utf-8", "surrogatepass")))
    tally.add("pii_leaks", len(leaked))
    assert not leaked, f"personal data leaked into logs/metrics/responses: {len(leaked)} value(s)"


class LocalAws:
    """The template's resources, created in moto, with clients to inspect them."""

    def __init__(self, provisioned: Provisioned) -> None:
        self.provisioned = provisioned
        self.dynamodb = boto3.client("dynamodb")
        self.kms = boto3.client("kms")
        # What provisioning put there (the stack's first branch key, as its operator would): the stack's, not data
        self._provisioned_items = {logical: self.scan(logical) for logical in provisioned.tables}

    def table(self, logical_id: str) -> str:
        return self.provisioned.tables[logical_id]

    def tokenizer(self) -> Tokenizer:
        return Tokenizer(stack_secret(boto3.client("secretsmanager")).encode())

    def subject_of_event(self, channel: str, event_id: str) -> str | None:
        """The subject a touchpoint was stored on, found by its event item (public channels' answers do not say)."""
        found = [
            i["subject_id"]["S"]
            for i in factories.opened_items(self, "event")
            if (i["channel"], i["event_id"]) == (channel, event_id)
        ]
        return found[0] if found else None

    def subject_of(self, kind: str, value: str) -> str | None:
        """The subject an identifier finds (public channels' answers do not say)."""
        return factories.subject_of(self.dynamodb, self.table("IdentityIndexTable"), self.tokenizer(), kind, value)

    def scan(self, logical_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table(logical_id), "ConsistentRead": True}
        while True:
            page = self.dynamodb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def all_items(self) -> dict[str, list[dict[str, Any]]]:
        """Every item written since the stack was provisioned, by table."""
        return {
            logical: [i for i in self.scan(logical) if i not in self._provisioned_items[logical]]
            for logical in self.provisioned.tables
        }


@pytest.fixture
def local_aws() -> Iterator[LocalAws]:
    with mock_aws():
        container.reset()
        provisioned = provision(TEMPLATE, boto3.client)
        hold_api_keys(provisioned.api_keys.values(), LOCAL_ACCOUNT, LOCAL_REGION)
        yield LocalAws(provisioned)
    container.reset()


class Lambdas:
    """Invokes the template's handlers in-process, each with its own environment, like Lambda would."""

    def __init__(self, aws: LocalAws) -> None:
        self.aws = aws
        self._current: str | None = None

    def invoke(self, logical_id: str, event: dict[str, Any], *, personal_answer: bool = False) -> dict[str, Any]:
        """`personal_answer`: the answer is the person's own data (a compliance export); logs are still checked."""
        spec = FUNCTIONS[logical_id]
        if self._current != logical_id:
            os.environ.update(self.aws.provisioned.environment(spec, overrides={}))
            container.reset()  # a different function: a different container
            self._current = logical_id
        handler = getattr(importlib.import_module(spec.module), spec.attribute)
        result: dict[str, Any] = handler(event, lambda_context(logical_id, spec.timeout))
        if not personal_answer:
            LEAK_SINK.write(json.dumps(result))
        if result.get("statusCode") == 500:
            from tests.reliability import tally

            tally.add("unexpected_500")
        return result

    def post(
        self,
        channel: str,
        body: Any,
        *,
        resource: str = "touchpoints",
        api_key: str | None = None,
        vouch: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, dict[str, Any]]:
        """POST to a channel's route as API Gateway would, with the channel's own key unless told otherwise.

        `vouch` (kind -> value): the channel's back end vouches for these identifiers (a login), with its proof.
        """
        if vouch:
            body = factories.vouched(body, channel, self.aws.tokenizer(), **vouch)
        key_logical = api_key or CHANNEL_API_KEYS[channel]
        event = api_event(
            "POST",
            f"/v1/{channel}/{resource}",
            body,
            api_key_id=self.aws.provisioned.api_keys[key_logical].key_id,
            **kwargs,
        )
        result = self.invoke(CHANNEL_FUNCTIONS[channel], event)
        return result["statusCode"], json.loads(result["body"])


@pytest.fixture
def lambdas(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Lambdas:
    for key in {k for spec in FUNCTIONS.values() for k in spec.environment}:
        monkeypatch.setenv(key, os.environ.get(key, ""))  # restored after the test
    return Lambdas(local_aws)


class FaultInjector:
    """Makes AWS answer with an error at the HTTP boundary (botocore's before-send hook, where moto also
    answers), so botocore's own retries run as they would against AWS. Our code is untouched."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._hooks: list[tuple[str, Any]] = []

    def fail(self, service: str, operation: str, code: str, status: int = 400, times: int | None = None) -> None:
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        from touchpoints.adapters import aws

        event_name = f"before-send.{service}.{operation}"
        remaining = [times]

        def answer(request: Any, **_: Any) -> Any:
            if remaining[0] is not None:
                if remaining[0] <= 0:
                    return None
                remaining[0] -= 1
            self.calls[operation] = self.calls.get(operation, 0) + 1
            body = json.dumps({"__type": code, "message": "injected fault"}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
            response = AWSResponse(request.url, status, headers, MockRawResponse(body))
            # botocore calls every before-send handler (moto's too) and keeps the first answer:
            # send moto's copy nowhere, or a "failed" write would still be applied.
            request.url = "https://fault-injected.invalid/"
            from tests.reliability import tally

            tally.add("faults_injected")
            return response

        aws.session().events.register(event_name, answer)
        self._hooks.append((event_name, answer))
        container.reset()  # clients are built again and pick up the hook

    def clear(self) -> None:
        from touchpoints.adapters import aws

        for event_name, hook in self._hooks:
            aws.session().events.unregister(event_name, hook)
        self._hooks.clear()
        container.reset()


@pytest.fixture
def faults() -> Iterator[FaultInjector]:
    injector = FaultInjector()
    yield injector
    injector.clear()
