"""What an AWS endpoint (AWS_ENDPOINT_URL) lacks of what the template needs, found before anything is created.

An emulator without DynamoDB Streams (dynalite, for one) would get the tables created and the runner
would then have no stream to poll: the classifier would never run. The runner refuses such an
endpoint with one line saying what is missing and what would not work, and creates nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local_runner.emulator.template import resources_of_type

ClientFactory = Callable[[str], Any]
_PROBE_TABLE = "local-runner-probe-no-such-table"
# The operation exists: it looked for the probe table (moto answers "ResourceNotFound", without the suffix).
_SUPPORTED_ANSWERS = {"ResourceNotFoundException", "ResourceNotFound", "ValidationException"}


class EndpointUnfit(RuntimeError):
    """The endpoint lacks something the template needs; the message is one line for the developer."""


def _answers(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as error:
        return str(error.response.get("Error", {}).get("Code", "")) in _SUPPORTED_ANSWERS
    return True


def missing_features(template: Mapping[str, Any], client: ClientFactory) -> list[str]:
    """What the template's tables need that the endpoint does not serve, each with what would not work."""
    tables = [
        resource.get("Properties", {}) for resource in resources_of_type(template, "AWS::DynamoDB::Table").values()
    ]
    missing = []
    dynamodb = client("dynamodb")
    dynamodb.list_tables(Limit=1)  # not DynamoDB at all, or not reachable: botocore says so
    if any("StreamSpecification" in props for props in tables):
        streams = client("dynamodbstreams")
        if not _answers(lambda: streams.list_streams(Limit=1)):
            missing.append("DynamoDB Streams (the classifier and every stream consumer would never run)")
    needs_ttl = any((props.get("TimeToLiveSpecification") or {}).get("Enabled") for props in tables)
    if needs_ttl and not _answers(lambda: dynamodb.describe_time_to_live(TableName=_PROBE_TABLE)):
        missing.append("TTL (expired items, e.g. idempotency records, would never go)")
    return missing


def check(template: Mapping[str, Any], client: ClientFactory, endpoint: str) -> None:
    """Raise EndpointUnfit, before anything is created, if the endpoint cannot run the template."""
    try:
        missing = missing_features(template, client)
    except (BotoCoreError, ClientError) as error:
        raise EndpointUnfit(f"endpoint {endpoint} does not answer as DynamoDB: {type(error).__name__}") from error
    if missing:
        raise EndpointUnfit(
            f"endpoint {endpoint} lacks {' and '.join(missing)}: nothing was created. "
            "Use the embedded AWS (unset AWS_ENDPOINT_URL), LocalStack or DynamoDB Local."
        )
