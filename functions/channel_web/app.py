"""Ingestion endpoint of the web channel."""

from touchpoints.api.sdk import channel_app
from touchpoints.model import Channel
from touchpoints.observability import api_entrypoint

app = channel_app(Channel.WEB)
lambda_handler = api_entrypoint(app)
