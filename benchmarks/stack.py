"""The template's resources in a backend (moto in-process, or a running local endpoint), and the web handler on them."""

from __future__ import annotations

import importlib
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3

from local_runner.emulator import template as cfn
from local_runner.emulator.moto_fixes import install as install_moto_fixes
from local_runner.emulator.provision import first_branch_key, provision

WEB_FUNCTION = "WebChannelFunction"
# Where a local emulator usually listens: moto server, LocalStack.
CANDIDATE_ENDPOINTS = ("http://127.0.0.1:5000", "http://127.0.0.1:4566")


@dataclass
class Stack:
    """A provisioned backend and the web channel function's environment on it."""

    backend: str
    endpoint_url: str | None
    environment: dict[str, str]
    api_key_id: str
    profile_table: str
    key_vault_table: str
    identity_index: str
    provisioned: Any = None  # the whole template, when the stack is moto
    _current: str | None = None

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Any of the template's functions, in its own environment; switching function is a new container."""
        from touchpoints.wiring import container

        spec = next(s for s in cfn.functions(cfn.load()) if s.logical_id == logical_id)
        if self._current != logical_id:
            os.environ.update(self.provisioned.environment(spec, overrides={}))
            container.reset()
            self._current = logical_id
        from benchmarks.harness import lambda_context

        handler = getattr(importlib.import_module(spec.module), spec.attribute)
        return handler(event, lambda_context(logical_id))  # type: ignore[no-any-return]

    def activate(self) -> None:
        """Point the function at this backend, as a fresh container."""
        from touchpoints.wiring import container

        os.environ.update(self.environment)
        self._current = WEB_FUNCTION
        if self.endpoint_url:
            os.environ["ENDPOINT_URL"] = self.endpoint_url
        else:
            os.environ.pop("ENDPOINT_URL", None)
        container.reset()

    def handler(self) -> Any:
        spec = _web_spec()
        return getattr(importlib.import_module(spec.module), spec.attribute)

    def client(self, service: str) -> Any:
        """The very client the function uses (one per container), so hooks on it see the function's calls."""
        from touchpoints.adapters import aws

        return aws.client(service, self.endpoint_url, os.environ["AWS_REGION"])

    def raw_client(self, service: str) -> Any:
        """A separate client for inspecting the backend without being counted."""
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint_url, region_name=os.environ["AWS_REGION"]
        )


def _web_spec() -> cfn.FunctionSpec:
    return next(s for s in cfn.functions(cfn.load()) if s.logical_id == WEB_FUNCTION)


MOTO_NOTE = (
    "moto's TransactWriteItems deep-copies every table it touches before each transaction (to roll back on "
    "failure), so its cost grows with the table (~0.3 ms per stored item); DynamoDB has no such cost. The "
    "benchmark runs moto with the local runner's fix (local_runner.emulator.moto_fixes: an undo journal of the items a "
    "transaction names), which keeps moto's rollback."
)


class BackendClock:
    """Seconds spent inside moto answering requests (in-process, so the client's time can be told apart)."""

    seconds = 0.0

    @classmethod
    @contextmanager
    def installed(cls) -> Iterator[None]:
        import time

        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__

        def timed(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(self, event_name, request, **kwargs)
            finally:
                cls.seconds += time.perf_counter() - start

        BotocoreStubber.__call__ = timed  # type: ignore[method-assign]
        try:
            yield
        finally:
            BotocoreStubber.__call__ = original  # type: ignore[method-assign]


@contextmanager
def moto_stack() -> Iterator[Stack]:
    from moto import mock_aws

    install_moto_fixes()
    with mock_aws(), BackendClock.installed():
        provisioned = provision(cfn.load(), boto3.client)
        environment = provisioned.environment(_web_spec(), overrides={})
        yield Stack(
            "moto",
            None,
            environment,
            environment["CHANNEL_API_KEY_ID"],
            provisioned.tables["ProfileTable"],
            provisioned.tables["KeyVaultTable"],
            provisioned.tables["IdentityIndexTable"],
            provisioned,
        )


def running_endpoint(explicit: str | None) -> str | None:
    """The endpoint given, else the first local emulator that accepts a connection."""
    for url in (explicit,) if explicit else CANDIDATE_ENDPOINTS:
        if not url:
            continue
        parsed = urlparse(url)
        try:
            with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=0.3):
                return url
        except OSError:
            if explicit:
                raise SystemExit(f"no endpoint is listening at {url}") from None
    return None


@contextmanager
def endpoint_stack(url: str) -> Iterator[Stack]:
    """Uniquely named tables, a key and a secret on a running emulator (which may hold other work); removed after."""
    template = cfn.load()
    suffix = uuid.uuid4().hex[:8]
    session = boto3.session.Session()
    make = lambda service: session.client(service, endpoint_url=url, region_name=os.environ["AWS_REGION"])  # noqa: E731
    dynamodb, kms, secrets = make("dynamodb"), make("kms"), make("secretsmanager")
    tables = {}
    for logical in ("ProfileTable", "KeyVaultTable", "IdentityIndexTable", "BranchKeyTable"):
        name = f"bench-{suffix}-{logical}"
        props = template["Resources"][logical]["Properties"]
        request = {k: props[k] for k in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes") if k in props}
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **request)
        dynamodb.get_waiter("table_exists").wait(TableName=name)
        tables[logical] = name
    key_id = kms.create_key(Description=f"bench {suffix}")["KeyMetadata"]["KeyId"]
    first_branch_key(dynamodb, kms, tables["BranchKeyTable"], key_id)
    secret_id = f"bench-{suffix}-TokenizationSecret"
    secrets.create_secret(Name=secret_id, SecretString=uuid.uuid4().hex + uuid.uuid4().hex)
    environment = {
        "PROFILE_TABLE_NAME": tables["ProfileTable"],
        "KEY_VAULT_TABLE_NAME": tables["KeyVaultTable"],
        "BRANCH_KEY_TABLE_NAME": tables["BranchKeyTable"],
        "IDENTITY_INDEX_TABLE_NAME": tables["IdentityIndexTable"],
        "DATA_KEY_ID": key_id,
        "TOKENIZATION_SECRET_ID": secret_id,
        "CHANNEL_API_KEY_ID": "bench-web-key",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    try:
        yield Stack(
            f"endpoint {url}",
            url,
            environment,
            "bench-web-key",
            tables["ProfileTable"],
            tables["KeyVaultTable"],
            tables["IdentityIndexTable"],
        )
    finally:
        for name in tables.values():
            dynamodb.delete_table(TableName=name)
        secrets.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
