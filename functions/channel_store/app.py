"""Ingestion endpoint of the store channel."""

from touchpoints.wiring.channels import Channel, channel_function

app, lambda_handler = channel_function(Channel.STORE)
