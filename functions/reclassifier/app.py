"""Classifies again the profiles time has changed (daily, EventBridge Scheduler), or, when an operator asks
after a rules deploy, those classified under other rules."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from touchpoints.observability import logger, metrics, tracer
from touchpoints.profile_states import reclassify


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return reclassify(event, context)
