"""The one logger, tracer and metrics of every function (configured by POWERTOOLS_* variables).

Never log an event body, a personal value or key material: log tokens, subject ids and codes.
Metric dimensions are few-valued (channel, error code, state, dependency), never an id or a value.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# Only the SDK we call, patched when touchpoints.adapters.aws imports it: patching at construction would import
# botocore into every function's import, and patching every library X-Ray knows imports each one present.
tracer = Tracer(auto_patch=False)
metrics = Metrics()

__all__ = [
    "MetricUnit",
    "api_entrypoint",
    "count_dependency_throttle",
    "count_refusal",
    "count_with_dimensions",
    "logger",
    "metrics",
    "record_keys",
    "tracer",
    "worker_entrypoint",
]


def api_entrypoint(app: Any) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler of an API function: correlation id, trace, metrics flush, then the resolver."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)  # type: ignore[no-any-return]

    return lambda_handler


def worker_entrypoint(handler: Callable[[dict[str, Any], LambdaContext], Any]) -> Callable[..., Any]:
    """The Lambda handler of a worker (queue, stream, schedule): context in the logs, trace, metrics flush; and
    no log key left over from an earlier invocation of the same warm container."""
    return logger.inject_lambda_context(clear_state=True)(tracer.capture_lambda_handler(metrics.log_metrics(handler)))


@contextmanager
def record_keys(**keys: str) -> Iterator[None]:
    """Log keys for the records of one message only: the next message of the batch starts without them."""
    logger.append_keys(**keys)
    try:
        yield
    finally:
        logger.remove_keys(list(keys))


def count_with_dimensions(name: str, dimensions: Mapping[str, str], value: float = 1) -> None:
    """A count under its own dimensions (and `service`), written at once: the invocation's `metrics` share one
    dimension set, so a dimension added there would split every other metric of the invocation."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value, default_dimensions=dict(dimensions)):
        pass


def count_refusal(error_code: str, dimensions: Mapping[str, str]) -> None:
    """One request answered with an error (4xx or 5xx), by its envelope's `error.code`."""
    count_with_dimensions("RequestsRefused", {**dimensions, "error_code": error_code})


def count_dependency_throttle(dependency: str) -> None:
    """One throttled call to an AWS service (`kms`, `dynamodb`...), retried by the SDK or not."""
    count_with_dimensions("DependencyThrottles", {"dependency": dependency})
