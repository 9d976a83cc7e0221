"""Ingestion endpoint of the store channel."""

from touchpoints.api.sdk import channel_app
from touchpoints.model import Channel
from touchpoints.observability import api_entrypoint

app = channel_app(Channel.STORE)
lambda_handler = api_entrypoint(app)
