"""Ingestion endpoint of the contact center channel."""

from touchpoints.wiring.channels import Channel, channel_function

app, lambda_handler = channel_function(Channel.CONTACT_CENTER)
