"""Pure parts of compliance: deadlines, the erasure's step order and resumption, paged deletes, the caller check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from touchpoints.adapters.erasure_store import DynamoSubjectEraser
from touchpoints.api.compliance import operator_role
from touchpoints.compliance.erasure import ErasureOrder, ErasureService, ErasureSuperseded
from touchpoints.compliance.model import ComplianceRequest, RequestState
from touchpoints.compliance.policy import Regulation, load_compliance_policy
from touchpoints.errors import Forbidden, StorageUnavailable

POLICY = load_compliance_policy()
ROLE = "arn:aws:iam::123456789012:role/ComplianceOperatorRole"


@pytest.mark.parametrize(
    ("regulation", "received", "deadline"),
    [
        (Regulation.GDPR, date(2026, 1, 31), date(2026, 3, 2)),
        (Regulation.CCPA, date(2026, 11, 25), date(2027, 1, 9)),
        (Regulation.LFPDPPP, date(2026, 11, 27), date(2026, 12, 25)),  # a Friday: 20 weekdays later
        (Regulation.LFPDPPP, date(2026, 11, 28), date(2026, 12, 25)),  # a Saturday counts from Monday
    ],
)
def test_deadlines_follow_the_policy(regulation, received, deadline):
    assert POLICY.deadline(regulation, received) == deadline


class Requests:
    def __init__(self) -> None:
        self.items: dict[str, ComplianceRequest] = {}

    def create(self, request: ComplianceRequest) -> None:
        self.items[request.request_id] = request

    def get(self, request_id: str) -> ComplianceRequest | None:
        return self.items.get(request_id)

    def save(self, request: ComplianceRequest) -> bool:
        if self.items[request.request_id].revision != request.revision - 1:
            return False
        self.items[request.request_id] = request
        return True


class Eraser:
    def __init__(self, pages: int) -> None:
        self.calls: list[str] = []
        self.pages = pages

    def owners(self, tokens: Any) -> set[str]:
        return set()

    def survivor_of(self, subject_id: str) -> str | None:
        return subject_id  # never merged away

    def freeze(self, subject_id: str, request_id: str, now: datetime) -> tuple[str, ...]:
        self.calls.append("freeze")
        return ("t1.email.x", "t1.phone.y")

    def suppress(self, tokens: Any, subject_id: Any, request_id: str, now: datetime) -> int:
        self.calls.append("suppress")
        return len(tokens)

    def release(self, tokens: Any, subject_id: str) -> int:
        raise AssertionError("suppression was asked for")

    def destroy_key(self, subject_id: str) -> bool:
        self.calls.append("shred")
        return True

    def purge(self, subject_id: str, page_size: int) -> Iterator[int]:
        while self.pages:
            self.pages -= 1
            self.calls.append("page")
            yield page_size


def service(requests: Requests, eraser: Eraser) -> ErasureService:
    class Queue:
        def send(self, request_id: str) -> None: ...

    class Audit:
        def record(self, entry: Any) -> None: ...

    return ErasureService(requests, Audit(), POLICY, queue=Queue(), eraser=eraser, page_size=10)


def submitted(requests: Requests, eraser: Eraser) -> str:
    order = ErasureOrder(Regulation.GDPR, "CASE-1", "sub_1", ("t1.email.x",), suppress=True)
    return service(requests, eraser).submit(order, ROLE).request_id


def test_erasure_freezes_suppresses_and_shreds_before_deleting():
    requests, eraser = Requests(), Eraser(pages=3)
    request_id = submitted(requests, eraser)
    assert service(requests, eraser).run(request_id)
    assert eraser.calls == ["freeze", "suppress", "shred", "page", "page", "page"]
    done = requests.items[request_id]
    assert done.state is RequestState.COMPLETED
    assert dict(done.counts) == {"tokens_suppressed": 2, "keys_destroyed": 1, "items_deleted": 30}


def test_a_stopped_erasure_resumes_at_its_checkpoint_without_repeating_steps():
    requests, eraser = Requests(), Eraser(pages=5)
    request_id = submitted(requests, eraser)
    stops = iter([False, True])
    assert not service(requests, eraser).run(request_id, should_stop=lambda: next(stops, False))
    assert requests.items[request_id].counts["items_deleted"] == 20
    assert service(requests, eraser).run(request_id)
    assert eraser.calls.count("shred") == 1 and eraser.calls.count("page") == 5
    assert requests.items[request_id].counts["items_deleted"] == 50


def test_a_second_delivery_that_falls_behind_stops_quietly():
    requests, eraser = Requests(), Eraser(pages=1)
    request_id = submitted(requests, eraser)
    requests.save = lambda request: False  # type: ignore[method-assign] - another run saved this revision first
    with pytest.raises(ErasureSuperseded):
        service(requests, eraser).run(request_id)
    assert eraser.calls == []


class ThrottlingDynamo:
    """Answers BatchWriteItem with part of the batch unprocessed, `throttled` times."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.deleted: list[Any] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        if self.throttled:
            self.throttled -= 1
            self.deleted.extend(requests[1:])
            return {"UnprocessedItems": {table: requests[:1]}}
        self.deleted.extend(requests)
        return {"UnprocessedItems": {}}


def test_unprocessed_deletes_are_retried_with_backoff():
    dynamo, sleeps = ThrottlingDynamo(throttled=3), []
    eraser = DynamoSubjectEraser(dynamo, "profiles", "vault", "index", sleep=sleeps.append)
    keys = [{"pk": {"S": "SUBJECT#s"}, "sk": {"S": f"EVENT#web#{n}"}} for n in range(60)]
    eraser._delete("profiles", keys)
    assert len(dynamo.deleted) == 60
    assert sleeps == sorted(sleeps) and len(sleeps) == 3


def test_deletes_throttled_for_too_long_leave_the_erasure_to_resume():
    eraser = DynamoSubjectEraser(ThrottlingDynamo(throttled=100), "profiles", "vault", "index", sleep=lambda _: None)
    with pytest.raises(StorageUnavailable):
        eraser._delete(
            "profiles",
            [
                {"pk": {"S": "SUBJECT#s"}, "sk": {"S": "EVENT#web#1"}},
                {"pk": {"S": "SUBJECT#s"}, "sk": {"S": "EVENT#web#2"}},
            ],
        )


def identity(arn: str | None, api_key_id: str | None = None) -> dict[str, Any]:
    return {"requestContext": {"identity": {"userArn": arn, "apiKeyId": api_key_id}}}


@pytest.mark.parametrize(
    "caller",
    [ROLE, "arn:aws:sts::123456789012:assumed-role/ComplianceOperatorRole/alice"],
)
def test_the_operator_role_and_its_sessions_are_let_in(caller):
    operator_role(lambda: ROLE)(identity(caller))


@pytest.mark.parametrize(
    "event",
    [
        identity(None, api_key_id="local-WebApiKey"),
        identity(""),
        identity("arn:aws:sts::123456789012:assumed-role/ComplianceOperatorRoleX/alice"),
        identity("arn:aws:sts::123456789012:assumed-role/Other/ComplianceOperatorRole/"),
        identity("arn:aws:iam::123456789012:user/ComplianceOperatorRole"),
        identity("arn:aws:sts::210987654321:assumed-role/ComplianceOperatorRole/alice"),
        {},
    ],
)
def test_anyone_else_is_refused(event):
    with pytest.raises(Forbidden):
        operator_role(lambda: ROLE)(event)


def test_requests_carry_no_clock_of_their_own():
    now = datetime(2026, 11, 25, tzinfo=UTC)
    requests = Requests()
    svc = ErasureService(
        requests,
        type("A", (), {"record": lambda self, e: None})(),
        POLICY,
        queue=type("Q", (), {"send": lambda self, r: None})(),
        clock=lambda: now,
    )
    request = svc.submit(ErasureOrder(Regulation.CCPA, "CASE-2", None, ("t1.email.x",), True), ROLE)
    assert request.received_at == now and request.deadline == date(2027, 1, 9)
