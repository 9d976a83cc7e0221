"""The seven channel functions: their ingestion, contact and failed-event services, built once per container,
and the handler each serves (its touchpoint routes and its SDK routes). SnapStart's hooks come with it
(`touchpoints.wiring.snapstart`): Lambda runs the hooks of the modules a handler imports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from touchpoints.api.channel_services import ChannelServices
from touchpoints.api.sdk import ChannelApp, channel_app
from touchpoints.consent import load_policy
from touchpoints.model import Channel
from touchpoints.observability import api_entrypoint
from touchpoints.settings import channel_settings
from touchpoints.wiring.container import LambdaHandler, client, keyring, per_container
from touchpoints.wiring.snapstart import prime_before_snapshot

if TYPE_CHECKING:
    from touchpoints.adapters.failed_events import DynamoFailedEvents
    from touchpoints.contact.service import ContactService
    from touchpoints.ingestion import IngestionService

__all__ = ["Channel", "channel_function"]


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


SERVICES = ChannelServices(
    ingestion=ingestion_service,
    contact=contact_service,
    failed_events=failed_event_store,
    write_key=channel_write_key,
    prime_before_snapshot=prime_before_snapshot,
)


def channel_function(channel: Channel) -> tuple[ChannelApp, LambdaHandler]:
    """A channel function's app (its routes, read by the OpenAPI command too) and its Lambda handler."""
    app = channel_app(channel, SERVICES)
    return app, api_entrypoint(app)
