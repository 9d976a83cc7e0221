"""Ingestion endpoint of the store channel."""

from touchpoints.api.channel import channel_api
from touchpoints.model import Channel
from touchpoints.observability import api_entrypoint

app = channel_api(Channel.STORE)
lambda_handler = api_entrypoint(app)
