"""The local runner as its own process, shared by the end-to-end tests (one per test module)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from local_runner.harness import RunnerFailed, ServedApi, served
from local_runner.principals import LocalPrincipal, sign
from tests import factories
from tests.conftest import find_pii


def assert_no_pii(text: str, where: str) -> None:
    leaked = find_pii(text)
    assert not leaked, f"personal data in {where}: {len(leaked)} value(s)"


def local_principal(name: str) -> LocalPrincipal:
    """The local IAM caller's signing keys: deterministic, documented, like the local API keys."""
    return LocalPrincipal(name, f"local-{name}", f"local-secret-{name}", arn="", user_id="")


class Runner:
    """The served API plus what the tests do with it: post as a channel, sign as a principal, read tables."""

    def __init__(self, api: ServedApi) -> None:
        self.api, self.url, self.health = api, api.url, api.health

    def post(
        self, channel: str, body: Any, api_key: str | None = None, resource: str = "touchpoints"
    ) -> requests.Response:
        key = api_key if api_key is not None else self.health["api_keys"][factories.CHANNEL_API_KEYS[channel]]
        return requests.post(
            f"{self.url}/v1/{channel}/{resource}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "x-api-key": key},
            timeout=60,
        )

    def signed(self, principal: str, method: str, path: str, body: Any = None) -> requests.Response:
        url = self.url + path
        data = b"" if body is None else json.dumps(body).encode()
        return requests.request(
            method, url, data=data, headers=sign(local_principal(principal), method, url, data), timeout=60
        )

    def dynamodb(self) -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=self.health["aws_endpoint"],
            region_name=self.health["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def profile(self, subject_id: str) -> dict[str, Any] | None:
        item = self.dynamodb().get_item(
            TableName=self.health["tables"]["ProfileTable"],
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            ConsistentRead=True,
        )
        return item.get("Item")

    def route_exists(self, method: str, path: str) -> bool:
        return any(r["method"] == method and r["path"] == path for r in self.health["routes"])


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    log = tmp_path_factory.mktemp("runner") / "serve.log"
    try:
        with served(log=log) as api:
            yield Runner(api)
    except RunnerFailed as failure:
        pytest.fail(str(failure))
    assert_no_pii(log.read_text(), "the runner's output (access log and function logs)")
