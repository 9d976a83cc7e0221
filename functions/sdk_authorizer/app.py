"""API Gateway REQUEST authorizer of the SDK API: the write key of HTTP Basic auth becomes the metered API key."""

from touchpoints.wiring.sdk_authorizer import sdk_authorizer

lambda_handler = sdk_authorizer()
