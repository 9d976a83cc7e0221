"""The one logger, tracer and metrics of every function (configured by POWERTOOLS_* variables).

Never log an event body, a personal value or key material: log tokens, subject ids and codes.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# Only the SDK we call: patching every library X-Ray knows imports each one present at cold start.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()

__all__ = ["MetricUnit", "api_entrypoint", "logger", "metrics", "tracer"]


def api_entrypoint(app: Any) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler of an API function: correlation id, trace, metrics flush, then the resolver."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)  # type: ignore[no-any-return]

    return lambda_handler
