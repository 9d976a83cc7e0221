"""Ingestion endpoint of the contact center channel."""

from touchpoints.api.channel import channel_api
from touchpoints.model import Channel
from touchpoints.observability import api_entrypoint

app = channel_api(Channel.CONTACT_CENTER)
lambda_handler = api_entrypoint(app)
