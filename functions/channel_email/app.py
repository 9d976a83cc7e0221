"""Ingestion endpoint of the email channel."""

from touchpoints.api.channel import channel_api
from touchpoints.model import Channel
from touchpoints.observability import api_entrypoint

app = channel_api(Channel.EMAIL)
lambda_handler = api_entrypoint(app)
