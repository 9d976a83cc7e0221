"""The tokenization secret, read through Powertools Parameters (cached, never logged), and written by the
operator's rotation (keys_cli token-secret)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.errors import StorageUnavailable, TokenizationUnavailable
from touchpoints.observability import count_with_dimensions, logger
from touchpoints.privacy.token_rotation import parse_secret
from touchpoints.privacy.tokenizer import Tokenizer

# How long a container keeps its tokenizer before reading the secret again: a rotation's phase reaches every
# container within it (token_rotation.DEFAULT_PROPAGATION waits for it plus the longest invocation).
REFRESH_SECONDS = 900
# A failed refresh keeps the tokenizer this much longer (a Secrets Manager blip), then fails closed: a container
# left on an old phase could split a person during a rotation.
_STALE_GRACE_SECONDS = 60


class TokenizerSource:
    """Builds the Tokenizer on first use and keeps it for `max_age_seconds`; a failure is not cached, so the next
    call retries."""

    def __init__(
        self,
        secrets_client: Any,
        secret_id: str,
        max_age_seconds: int = REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = SecretsProvider(boto3_client=secrets_client)
        self._secret_id = secret_id
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._tokenizer: Tokenizer | None = None
        self._built_at = 0.0

    def __call__(self) -> Tokenizer:
        age = self._monotonic() - self._built_at
        if self._tokenizer is None or age >= self._max_age:
            try:
                secret = self._provider.get(self._secret_id, max_age=self._max_age)
            except GetParameterError as error:
                logger.warning("tokenization secret unavailable", extra={"error_type": type(error.__cause__).__name__})
                if self._tokenizer is not None and age < self._max_age + _STALE_GRACE_SECONDS:
                    return self._tokenizer
                self._tokenizer = None
                raise TokenizationUnavailable("the tokenization secret is unavailable; nothing was stored") from None
            self._tokenizer = Tokenizer(parse_secret(str(secret)))
            self._built_at = self._monotonic()
            if self._tokenizer.rotating:
                # Seen by the stall alarm (template.yaml TokenSecretRotationStalled): a rotation is open.
                count_with_dimensions("TokenSecretRotationOpen", {"secret": "tokenization"})
        return self._tokenizer

    def drop(self) -> None:
        """Forget the tokenizer (before a snapshot: no secret in it); the next call reads the secret again."""
        self._tokenizer = None


class SecretsManagerTokenSecret:
    """The secret document for the operator's rotation: read and written whole (a new version each write)."""

    def __init__(self, secrets_client: Any, secret_id: str) -> None:
        self._client = secrets_client
        self._secret_id = secret_id

    def read(self) -> str:
        try:
            return str(self._client.get_secret_value(SecretId=self._secret_id)["SecretString"])
        except SDK_ERRORS as error:
            logger.warning("tokenization secret read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the tokenization secret is unavailable; nothing was changed") from error

    def write(self, text: str) -> None:
        try:
            self._client.put_secret_value(SecretId=self._secret_id, SecretString=text)
        except SDK_ERRORS as error:
            logger.warning("tokenization secret write failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the tokenization secret could not be written; run the step again") from error
