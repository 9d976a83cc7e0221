"""What every composition root shares: factories built once per container, AWS clients, the keyring.

Every factory of the wiring modules is decorated with ``per_container``: built on first use, kept
while the container lives, and forgotten by ``reset()``, which tests and the local runner call to
simulate a new container.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext

from touchpoints.consent import load_policy
from touchpoints.settings import AwsSettings, PrivacySettings, channel_settings

if TYPE_CHECKING:
    from touchpoints.privacy.keyring import SubjectKeyring

T = TypeVar("T")
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
_FACTORIES: list[Any] = [load_policy, channel_settings]


def per_container(factory: Callable[[], T]) -> Callable[[], T]:
    cached = lru_cache(maxsize=1)(factory)
    _FACTORIES.append(cached)
    return cached


def reset() -> None:
    """Forget everything built, as a new container would."""
    for cached in _FACTORIES:
        cached.cache_clear()
    if (aws := sys.modules.get("touchpoints.adapters.aws")) is not None:
        aws.client.cache_clear()


def client(settings: AwsSettings, service: str) -> Any:
    # The adapters, and boto3 with them, are imported by the first request that reaches AWS, not at a function's
    # import: a request refused before that (a wrong key, a malformed body, an invalid payload) never needs them.
    from touchpoints.adapters import aws

    return aws.client(service, settings.endpoint_url, settings.region)


def keyring(settings: PrivacySettings) -> SubjectKeyring:
    from touchpoints.adapters.kms import KmsKeyWrapper
    from touchpoints.privacy.keyring import SubjectKeyring

    return SubjectKeyring(
        KmsKeyWrapper(client(settings, "kms"), settings.data_key_id), ttl_seconds=settings.data_key_cache_seconds
    )
