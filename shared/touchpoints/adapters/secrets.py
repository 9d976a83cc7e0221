"""The tokenization secret, read through Powertools Parameters (cached, never logged)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from touchpoints.errors import TokenizationUnavailable
from touchpoints.observability import logger
from touchpoints.privacy.tokenizer import Tokenizer


class TokenizerSource:
    """Builds the Tokenizer on first use and keeps it; a failure is not cached, so the next call retries."""

    def __init__(self, secrets_client: Any, secret_id: str, max_age_seconds: int = 3600) -> None:
        self._provider = SecretsProvider(boto3_client=secrets_client)
        self._secret_id = secret_id
        self._max_age = max_age_seconds
        self._tokenizer: Tokenizer | None = None

    def __call__(self) -> Tokenizer:
        if self._tokenizer is None:
            try:
                secret = self._provider.get(self._secret_id, max_age=self._max_age)
            except GetParameterError as error:
                logger.warning("tokenization secret unavailable", extra={"error_type": type(error.__cause__).__name__})
                raise TokenizationUnavailable("the tokenization secret is unavailable; nothing was stored") from None
            self._tokenizer = Tokenizer(str(secret).encode())
        return self._tokenizer
