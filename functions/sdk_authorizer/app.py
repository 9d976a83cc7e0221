"""API Gateway REQUEST authorizer of the SDK API: the write key of HTTP Basic auth becomes the metered API key."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from touchpoints.observability import logger
from touchpoints.sdk.write_key import UNAUTHORIZED, WriteKeyMissing, allow_policy, write_key


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return allow_policy(event, write_key(event.get("headers")))
    except WriteKeyMissing:
        logger.info("request without a write key")
        raise Exception(UNAUTHORIZED) from None
