"""Seconds to erase a person, by how many events they have: through the compliance API and the erasure worker."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from benchmarks.harness import lambda_context, quiet_stdout, web_event, web_signup
from benchmarks.stack import Stack
from local_runner.commands.demo_data import stack_secret
from tests.factories import seed_subject_events, subject_of
from touchpoints.privacy.tokenizer import Tokenizer

API = "ComplianceApiFunction"
WORKER = "ErasureWorkerFunction"
OPERATOR = "arn:aws:sts::123456789012:assumed-role/ComplianceOperatorRole/benchmark"


def _erase(stack: Stack, subject_id: str) -> tuple[float, int]:
    """Seconds from the operator's request to the worker's last page, and how many worker invocations it took."""
    from tests.factories import api_event, sqs_event

    sqs = boto3.client("sqs")
    queue_url = stack.provisioned.queues["ErasureQueue"]
    queue_arn = str(stack.provisioned.intrinsics.attributes[("ErasureQueue", "Arn")])
    body = {"subject": {"subject_id": subject_id}, "regulation": "gdpr", "case_reference": "BENCH-1"}
    start = time.perf_counter()
    answer = stack.invoke(API, api_event("POST", "/v1/compliance/erasures", body, user_arn=OPERATOR))
    assert answer["statusCode"] == 202, answer["body"]
    invocations = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            break
        for message in messages:
            result = stack.invoke(WORKER, sqs_event([message], queue_arn))
            invocations += 1
            assert result == {"batchItemFailures": []}, result
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    elapsed = time.perf_counter() - start
    status = stack.invoke(
        API, api_event("GET", f"/v1/compliance/requests/{json.loads(answer['body'])['request_id']}", user_arn=OPERATOR)
    )
    state = json.loads(status["body"]).get("state")
    if state != "completed":
        raise RuntimeError(f"the erasure ended {state!r}")
    return elapsed, invocations


def measure(stack: Stack, sizes: tuple[int, ...]) -> dict[str, Any]:
    runs = {}
    with quiet_stdout():
        for index, events in enumerate(sizes):
            stack.activate()
            signup = web_signup(8_000 + index)
            stack.handler()(web_event(signup, stack.api_key_id), lambda_context())
            # The web is a public channel: its answer does not say which profile; the token index does.
            tokenizer = Tokenizer(stack_secret(stack.raw_client("secretsmanager")).encode())
            email = signup["customer"]["email"]
            subject_id = subject_of(stack.raw_client("dynamodb"), stack.identity_index, tokenizer, "email", email)
            assert subject_id is not None
            seed_subject_events(stack.raw_client("dynamodb"), stack.profile_table, subject_id, events)
            seconds, invocations = _erase(stack, subject_id)
            runs[str(events)] = {
                "events": events,
                "seconds": seconds,
                "ms_per_event": seconds / events * 1e3,
                "worker_invocations": invocations,
            }
    first, last = runs[str(sizes[0])], runs[str(sizes[-1])]
    return {
        "runs": runs,
        "growth": {
            "events_factor": sizes[-1] / sizes[0],
            "seconds_factor": last["seconds"] / first["seconds"] if first["seconds"] else None,
        },
        "note": "moto in-process; from the operator's POST to the worker's last page (freeze, suppress, key "
        "destroyed, events deleted in pages). Events are seeded directly into the subject's partition.",
    }
