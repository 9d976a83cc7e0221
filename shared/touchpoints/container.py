"""Composition root: settings, clients, adapters and services, built once per container.

Every factory here (and in other functions' composition modules) is decorated with
``per_container``: built on first use, kept while the container lives, and forgotten by
``reset()``, which tests and the local runner call to simulate a new container.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from touchpoints.adapters import aws
from touchpoints.adapters.failed_events import DynamoFailedEvents
from touchpoints.adapters.kms import KmsKeyWrapper
from touchpoints.adapters.profile_store import DynamoProfileStore
from touchpoints.adapters.secrets import TokenizerSource
from touchpoints.consent import load_policy
from touchpoints.ingestion import IngestionService
from touchpoints.privacy.keyring import SubjectKeyring
from touchpoints.settings import AwsSettings, PrivacySettings, channel_settings

T = TypeVar("T")
_FACTORIES: list[Any] = [aws.client, load_policy, channel_settings]


def per_container(factory: Callable[[], T]) -> Callable[[], T]:
    cached = lru_cache(maxsize=1)(factory)
    _FACTORIES.append(cached)
    return cached


def reset() -> None:
    """Forget everything built, as a new container would."""
    for cached in _FACTORIES:
        cached.cache_clear()


def client(settings: AwsSettings, service: str) -> Any:
    return aws.client(service, settings.endpoint_url, settings.region)


def keyring(settings: PrivacySettings) -> SubjectKeyring:
    return SubjectKeyring(
        KmsKeyWrapper(client(settings, "kms"), settings.data_key_id), ttl_seconds=settings.data_key_cache_seconds
    )


@per_container
def ingestion_service() -> IngestionService:
    settings = channel_settings()
    store = DynamoProfileStore(client(settings, "dynamodb"), settings.profile_table, settings.key_vault_table)
    tokenizer = TokenizerSource(client(settings, "secretsmanager"), settings.tokenization_secret_id)
    return IngestionService(store, keyring(settings), tokenizer, load_policy())


@per_container
def failed_event_store() -> DynamoFailedEvents:
    settings = channel_settings()
    return DynamoFailedEvents(client(settings, "dynamodb"), settings.profile_table)
