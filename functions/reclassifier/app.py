"""Classifies again, once a day, the profiles whose state time alone changed (EventBridge Scheduler)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from touchpoints.observability import logger, metrics, tracer
from touchpoints.profile_states import sweep_due_profiles


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return sweep_due_profiles(context)
