"""Ingestion endpoint of the push channel."""

from touchpoints.wiring.channels import Channel, channel_function

app, lambda_handler = channel_function(Channel.PUSH)
