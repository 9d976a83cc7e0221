"""boto3 clients, created once per container, and the translation of SDK failures."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from touchpoints.errors import StorageUnavailable
from touchpoints.observability import count_dependency_throttle, logger, tracer

tracer.patch(("botocore",))  # X-Ray subsegments for every SDK call (a no-op when tracing is disabled)

# Bounded retries with backoff, short timeouts: a Lambda must answer well within API Gateway's 29 s. botocore's
# max_attempts counts retries: 2 is 3 attempts, so one call's worst case is 3 x (2 s connect + 5 s read) + up to
# 1 + 2 s of backoff = 24 s, under the API functions' 28 s timeout (tests/unit/test_capacity_template.py); 3 retries
# would be 35 s, past API Gateway.
# Requests are built by our adapters, never from caller input, and DynamoDB validates them again: botocore's
# client-side walk of every nested attribute value (~0.5 ms per touchpoint transaction) buys nothing.
# The pool holds a connection per thread of the widest fan-out (a 1,000-person contact decision writes 16 at a
# time, reports and sweeps up to 64): botocore's default of 10 would discard and re-open TLS connections.
SDK_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    connect_timeout=2,
    read_timeout=5,
    parameter_validation=False,
    max_pool_connections=64,
)

# Objects encrypted with KMS are only served to SigV4 requests, presigned links included. The same 5 s a socket
# operation as every call (a large export's PutObject sends and reads in chunks, each within it): with 15 s, one
# PutObject could take 3 x (2 + 15) + 3 = 54 s, past the route's 28 s, for an answer API Gateway had already dropped.
S3_CONFIG = SDK_CONFIG.merge(Config(signature_version="s3v4"))

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)


# The codes AWS answers when it sheds load (a quota or a partition's throughput), as opposed to failing.
THROTTLE_ONLY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)


@lru_cache(maxsize=1)
def session() -> boto3.session.Session:
    # One session per process: its loader caches the service models, so each new client is cheap.
    return boto3.session.Session()


@cache
def client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    config = S3_CONFIG if service == "s3" else SDK_CONFIG
    made = session().client(service, endpoint_url=endpoint_url, region_name=region, config=config)  # type: ignore[call-overload]
    made.meta.events.register("needs-retry", _count_throttle)
    return made


def _count_throttle(response: Any = None, operation: Any = None, **_: Any) -> None:
    """botocore asks this after every attempt, before its own retry decision: a throttle the SDK then retries
    successfully is counted too, which is what tells an operator a quota is near."""
    if response is not None and response[1].get("Error", {}).get("Code") in THROTTLE_ONLY_CODES:
        count_dependency_throttle(operation.service_model.service_name)


def error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


SDK_ERRORS = (ClientError, BotoCoreError)


class ResumableStoreCalls:
    """For the adapters of work that resumes after a failure (an erasure, a merge): an SDK failure is logged by its
    code alone and becomes StorageUnavailable, which the worker's queue retries."""

    resumes: ClassVar[str]  # what the caller is told will happen, e.g. "the erasure will resume"

    def _call(self, what: str, operation: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except SDK_ERRORS as error:
            raise self._unavailable(what, error) from error

    def _unavailable(self, what: str, error: Exception) -> StorageUnavailable:
        logger.warning(f"{what} failed", extra={"error_code": error_code(error)})
        return StorageUnavailable(f"the profile store is unavailable; {self.resumes}")
