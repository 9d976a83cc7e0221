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


@lru_cache(maxsize=1)
def keyring(settings: PrivacySettings) -> SubjectKeyring:
    """The container's one keyring, whichever of its services asks first: one cache of data keys and of the branch
    keys that wrap them (a person's key unwrapped for a touchpoint serves their contact decision too)."""
    from touchpoints.adapters.branch_keys import DynamoBranchKeys
    from touchpoints.adapters.kms import KmsKeyWrapper
    from touchpoints.privacy.branch_keys import BranchKeyCache, HierarchicalKeyWrapper
    from touchpoints.privacy.keyring import SubjectKeyring

    kms = client(settings, "kms")
    source = DynamoBranchKeys(client(settings, "dynamodb"), kms, settings.branch_key_table, settings.data_key_id)
    wrapper = HierarchicalKeyWrapper(
        BranchKeyCache(source, ttl_seconds=settings.branch_key_cache_seconds),
        KmsKeyWrapper(kms, settings.data_key_id),
    )
    return SubjectKeyring(wrapper, ttl_seconds=settings.data_key_cache_seconds)


_FACTORIES.append(keyring)
