"""Given the export policy's threshold, small exports are answered inline and large ones linked from the store."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from touchpoints.compliance.export import LINK_FORMAT, ExportDelivery, export_key
from touchpoints.compliance.model import ExportStorageUnavailable
from touchpoints.compliance.policy import load_compliance_policy

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


class MemoryStore:
    def __init__(self, failing: bool = False) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.failing = failing

    def put(self, key: str, body: bytes, content_type: str) -> None:
        if self.failing:
            raise ExportStorageUnavailable("down")
        self.objects[key] = (body, content_type)

    def link(self, key: str, expires_in: int) -> str:
        return f"https://exports.example/{key}?expires={expires_in}"


def document(interactions: int) -> dict[str, object]:
    return {"request_id": "dsr_" + "a" * 32, "interactions": [{"n": n, "note": "é" * 10} for n in range(interactions)]}


def test_the_policy_keeps_inline_answers_far_below_lambdas_6_mb():
    policy = load_compliance_policy().export
    assert 0 < policy.inline_max_bytes <= 2 * 1024 * 1024
    assert 60 <= policy.link_seconds <= 900


def test_an_export_within_the_threshold_is_the_answer_itself():
    store = MemoryStore()
    delivery = ExportDelivery(store, inline_max_bytes=10_000, link_seconds=300, clock=lambda: NOW)
    small = document(3)
    result = delivery.deliver(small)
    assert result.answer is small and not result.stored
    assert store.objects == {}


def test_an_export_over_the_threshold_is_stored_under_its_request_id_and_linked():
    store = MemoryStore()
    delivery = ExportDelivery(store, inline_max_bytes=1_000, link_seconds=300, clock=lambda: NOW)
    large = document(200)
    result = delivery.deliver(large)
    body, content_type = store.objects[export_key("dsr_" + "a" * 32)]
    assert json.loads(body) == large and content_type == "application/json"
    assert result.stored and result.size == len(body) > 1_000
    assert result.answer == {
        "format": LINK_FORMAT,
        "request_id": "dsr_" + "a" * 32,
        "url": f"https://exports.example/exports/dsr_{'a' * 32}.json?expires=300",
        "expires_at": "2026-11-30T06:05:00+00:00",
        "content_type": "application/json",
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def test_a_store_that_fails_fails_the_delivery():
    delivery = ExportDelivery(MemoryStore(failing=True), inline_max_bytes=0, link_seconds=300)
    with pytest.raises(ExportStorageUnavailable):
        delivery.deliver(document(1))
