"""Composition root: settings, clients, adapters and services, built once per container.

Every factory here (and in other functions' composition modules) is decorated with
``per_container``: built on first use, kept while the container lives, and forgotten by
``reset()``, which tests and the local runner call to simulate a new container.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from touchpoints.consent import load_policy
from touchpoints.settings import AwsSettings, PrivacySettings, channel_settings

if TYPE_CHECKING:
    from touchpoints.adapters.failed_events import DynamoFailedEvents
    from touchpoints.contact.service import ContactService
    from touchpoints.ingestion import IngestionService
    from touchpoints.privacy.keyring import SubjectKeyring

# The adapters, and boto3 with them, are imported by the first request that reaches AWS, not at a function's
# import: a request refused before that (a wrong key, a malformed body, an invalid payload) never needs them.
# A SnapStart snapshot has them loaded (touchpoints.snapshot primes it).
ADAPTER_MODULES = (
    "touchpoints.adapters.aws",
    "touchpoints.adapters.kms",
    "touchpoints.adapters.profile_store",
    "touchpoints.adapters.secrets",
    "touchpoints.privacy.keyring",
    "touchpoints.ingestion",
    "touchpoints.adapters.contact_store",
    "touchpoints.contact.service",
    "touchpoints.adapters.api_keys",
)

T = TypeVar("T")
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
    from touchpoints.adapters import aws

    return aws.client(service, settings.endpoint_url, settings.region)


def keyring(settings: PrivacySettings) -> SubjectKeyring:
    from touchpoints.adapters.kms import KmsKeyWrapper
    from touchpoints.privacy.keyring import SubjectKeyring

    return SubjectKeyring(
        KmsKeyWrapper(client(settings, "kms"), settings.data_key_id), ttl_seconds=settings.data_key_cache_seconds
    )


@per_container
def ingestion_service() -> IngestionService:
    from touchpoints.adapters.profile_store import DynamoProfileStore
    from touchpoints.adapters.secrets import TokenizerSource
    from touchpoints.ingestion import IngestionService

    settings = channel_settings()
    store = DynamoProfileStore(
        client(settings, "dynamodb"), settings.profile_table, settings.key_vault_table, settings.identity_index_table
    )
    tokenizer = TokenizerSource(client(settings, "secretsmanager"), settings.tokenization_secret_id)
    return IngestionService(store, keyring(settings), tokenizer, load_policy())


@per_container
def contact_service() -> ContactService:
    from touchpoints.adapters.contact_store import DynamoContactStore
    from touchpoints.adapters.profile_store import DynamoProfileStore
    from touchpoints.adapters.secrets import TokenizerSource
    from touchpoints.classification.rules import load_rules
    from touchpoints.contact.policy import contact_fields, load_contact_policy
    from touchpoints.contact.service import ContactService
    from touchpoints.trust import load_trust_policy

    settings = channel_settings()
    db = client(settings, "dynamodb")
    profiles = DynamoProfileStore(db, settings.profile_table, settings.key_vault_table, settings.identity_index_table)
    tokenizer = TokenizerSource(client(settings, "secretsmanager"), settings.tokenization_secret_id)
    return ContactService(
        DynamoContactStore(db, settings.profile_table, profiles),
        tokenizer,
        load_contact_policy(),
        contact_fields(load_rules()),
        load_trust_policy(),
        keyring=keyring(settings),
    )


@per_container
def failed_event_store() -> DynamoFailedEvents:
    from touchpoints.adapters.failed_events import DynamoFailedEvents

    settings = channel_settings()
    return DynamoFailedEvents(client(settings, "dynamodb"), settings.profile_table)


@per_container
def channel_write_key() -> str:
    """The channel's own write key (its API key value), read once per container for the browser routes."""
    from touchpoints.adapters.api_keys import api_key_value

    settings = channel_settings()
    return api_key_value(client(settings, "apigateway"), settings.channel_api_key_id)
