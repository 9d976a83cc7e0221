"""Composition root: settings, clients, adapters and services, built once per container."""

from __future__ import annotations

from functools import lru_cache

from touchpoints.adapters import aws
from touchpoints.adapters.kms import KmsKeyWrapper
from touchpoints.adapters.profile_store import DynamoProfileStore
from touchpoints.adapters.secrets import TokenizerSource
from touchpoints.consent import load_policy
from touchpoints.ingestion import IngestionService
from touchpoints.privacy.keyring import SubjectKeyring
from touchpoints.settings import PrivacySettings, channel_settings


def _client(settings: PrivacySettings, service: str):  # type: ignore[no-untyped-def]
    return aws.client(service, settings.endpoint_url, settings.region)


@lru_cache(maxsize=1)
def ingestion_service() -> IngestionService:
    settings = channel_settings()
    store = DynamoProfileStore(_client(settings, "dynamodb"), settings.profile_table, settings.key_vault_table)
    keyring = SubjectKeyring(
        KmsKeyWrapper(_client(settings, "kms"), settings.data_key_id), ttl_seconds=settings.data_key_cache_seconds
    )
    tokenizer = TokenizerSource(_client(settings, "secretsmanager"), settings.tokenization_secret_id)
    return IngestionService(store, keyring, tokenizer, load_policy())


def reset() -> None:
    """Forget everything built, as a new container would (tests use this between cases)."""
    for cached in (ingestion_service, channel_settings, aws.client, load_policy):
        cached.cache_clear()
