"""Ingestion endpoint of the app channel."""

from touchpoints.wiring.channels import Channel, channel_function

app, lambda_handler = channel_function(Channel.APP)
