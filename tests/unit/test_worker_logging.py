"""A warm worker's logs carry only the current invocation's and the current message's keys: a merge or an
erasure handled earlier by the same container is not named in the next one's log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from touchpoints.observability import logger, record_keys, worker_entrypoint


@dataclass
class _Context:
    function_name: str = "worker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:worker"
    aws_request_id: str = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the logger writes, formatted as in Lambda (JSON lines)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_a_message_key_ends_with_its_message(written: io.StringIO) -> None:
    with record_keys(absorbed_subject="sub_first"):
        logger.info("inside")
    logger.info("after")
    inside, after = _lines(written)[-2:]
    assert inside["absorbed_subject"] == "sub_first"
    assert "absorbed_subject" not in after


def test_a_message_key_ends_even_when_the_message_fails(written: io.StringIO) -> None:
    with pytest.raises(RuntimeError), record_keys(request_id="er_1"):
        raise RuntimeError("failed")
    logger.info("next")
    assert "request_id" not in _lines(written)[-1]


def test_a_warm_invocation_starts_without_the_last_ones_keys(written: io.StringIO) -> None:
    @worker_entrypoint
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("name"):
            logger.append_keys(leftover=event["name"])  # a key a handler forgot to remove
        logger.info("handled")
        return {}

    handler({"name": "sub_earlier"}, _Context())
    handler({}, _Context(aws_request_id="req-2"))
    first, second = [line for line in _lines(written) if line.get("message") == "handled"][-2:]
    assert first["leftover"] == "sub_earlier"
    assert "leftover" not in second
    assert second["function_request_id"] == "req-2"
