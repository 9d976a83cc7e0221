"""The SDK API's REQUEST authorizer: the write key of HTTP Basic auth becomes the metered API key. It builds nothing
per container: the key is checked by API Gateway's usage plan, not here."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from touchpoints.observability import logger
from touchpoints.sdk.write_key import UNAUTHORIZED, WriteKeyMissing, allow_policy, write_key
from touchpoints.wiring.container import LambdaHandler


def sdk_authorizer() -> LambdaHandler:
    """The Lambda handler of the authorizer: an allow policy naming the write key, or API Gateway's 401."""

    @logger.inject_lambda_context
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return allow_policy(event, write_key(event.get("headers")))
        except WriteKeyMissing:
            logger.info("request without a write key")
            raise Exception(UNAUTHORIZED) from None

    return lambda_handler
