"""A channel's API key value, read from API Gateway: what the browser routes compare a body's write key with."""

from __future__ import annotations

from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS
from touchpoints.errors import WriteKeyUnavailable
from touchpoints.observability import logger


def api_key_value(client: Any, key_id: str) -> str:
    """The value of API key `key_id` (`apigateway:GET` on /apikeys/<id>); WriteKeyUnavailable if it cannot be read."""
    try:
        answer = client.get_api_key(apiKey=key_id, includeValue=True)
    except SDK_ERRORS as error:
        logger.warning("channel write key unavailable", extra={"error_type": type(error).__name__})
        raise WriteKeyUnavailable("the channel's write key cannot be read; nothing was stored") from None
    return str(answer.get("value") or "")
