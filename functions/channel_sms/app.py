"""Ingestion endpoint of the sms channel."""

from touchpoints.api.channel import channel_api
from touchpoints.model import Channel
from touchpoints.observability import api_entrypoint

app = channel_api(Channel.SMS)
lambda_handler = api_entrypoint(app)
