"""The local runner as its own process, shared by the end-to-end tests (one per test module)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local_runner.commands.demo_data import stack_secret
from local_runner.commands.load import Table
from local_runner.emulator.harness import RunnerFailed, ServedApi, clean_environment, served
from local_runner.emulator.principals import LocalPrincipal, sign
from tests import factories
from tests.conftest import find_pii
from touchpoints.privacy.tokenizer import Tokenizer

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, last_seen: Callable[[], str] = lambda: "") -> Any:
    """Poll until `condition()` is truthy (its value is returned); fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what} {last_seen()}")


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

    def tokenizer(self) -> Tokenizer:
        secretsmanager = boto3.client(
            "secretsmanager",
            endpoint_url=self.health["aws_endpoint"],
            region_name=self.health["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        return Tokenizer(stack_secret(secretsmanager).encode())

    def subject_of(self, kind: str, value: str) -> str | None:
        """The subject an identifier finds in the token index (public channels' answers do not say)."""
        table = self.health["tables"]["IdentityIndexTable"]
        return factories.subject_of(self.dynamodb(), table, self.tokenizer(), kind, value)

    def stored_on(self, channel: str, response: requests.Response, body: dict[str, Any]) -> str:
        """The profile a touchpoint landed on: a private channel's answer says; a public one's event item does."""
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        if "profile_id" in result:
            return str(result["profile_id"])
        assert result["status"] == "accepted", result
        events = Table(self.health).opened_events()  # the item's key names no event: its sealed metadata does
        return next(
            item["subject_id"]["S"]
            for item, metadata in events
            if (metadata["channel"], metadata["event_id"]) == (channel, body["event_id"])
        )

    def profile(self, subject_id: str) -> dict[str, Any] | None:
        item = self.dynamodb().get_item(
            TableName=self.health["tables"]["ProfileTable"],
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            ConsistentRead=True,
        )
        return item.get("Item")

    def classified(self, subject_id: str, timeout: float = 45) -> dict[str, Any]:
        """The profile once the stream poller's classifier has caught up with its latest revision: settled."""

        def caught_up() -> dict[str, Any] | None:
            item = self.profile(subject_id)
            if item is None or "classified_version" not in item:
                return None
            same_data = item["classified_version"]["N"] == item["version"]["N"]
            same_consents = item["classified_consent_version"]["N"] == item["consent_version"]["N"]
            return item if same_data and same_consents else None

        def versions() -> str:
            item = self.profile(subject_id) or {}
            names = ("version", "classified_version", "consent_version", "classified_consent_version", "changed_by")
            pollers = requests.get(f"{self.url}/__health", timeout=10).json()["pollers"]
            return str({name: item.get(name) for name in names}) + f" pollers: {pollers}"

        item = dict(wait_for(caught_up, timeout, "the classifier to catch up with the profile", versions))
        self.settled(timeout)  # the invocation that wrote it commits its counts after the profiles: let it end
        return item

    def settled(self, timeout: float = 60) -> None:
        """No invocation running, every stream record and queued message handled: counters included."""
        wait_for(
            lambda: requests.get(f"{self.url}/__health", timeout=10).json()["idle"], timeout, "the runner to settle"
        )

    def completed(self, operator: str, request_path: str, timeout: float = 60) -> dict[str, Any]:
        """The request's status once the erasure queue's worker has completed it (failing fast on `failed`)."""

        def done() -> dict[str, Any] | None:
            status = self.signed(operator, "GET", request_path)
            assert status.status_code == 200, status.text
            body = dict(status.json())
            assert body["state"] != "failed", body
            return body if body["state"] == "completed" else None

        return dict(wait_for(done, timeout, "the erasure to complete"))

    def invoke(self, function: str, event_file: str) -> dict[str, Any]:
        """`python -m local_runner invoke` against this runner's AWS, as a developer runs a scheduled function."""
        result = subprocess.run(
            [sys.executable, "-m", "local_runner", "invoke", function, "-e", event_file],
            cwd=REPO_ROOT,
            env=clean_environment() | {"AWS_ENDPOINT_URL": self.health["aws_endpoint"]},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert_no_pii(result.stdout + result.stderr, f"the output of invoke {function}")
        return dict(json.loads(result.stdout))

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
