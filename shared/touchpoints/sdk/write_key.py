"""Write keys as SDKs present them, and the one check of a presented key against a channel's.

A write key is the channel's API key value (public for web and app, like analytics.js keys). On the SDK
routes the authorizer only reads it from HTTP Basic; API Gateway then checks it is a key of the API's
usage plans (else 401 from the gateway response INVALID_API_KEY) and the channel function checks it is its
own channel's key id. A browser beacon (`navigator.sendBeacon`, analytics.js in `text/plain`) may carry
it only in the body, which no authorizer sees: on the browser routes the channel function reads it from
HTTP Basic or the body and compares it with its channel's key value itself (`is_write_key_of`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from typing import Any

_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
UNAUTHORIZED = "Unauthorized"  # the exact text API Gateway turns into a 401


class WriteKeyMissing(Exception):
    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def write_key(headers: Mapping[str, str] | None) -> str:
    """The write key of `Authorization: Basic base64(<key>:)`; raises WriteKeyMissing."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "authorization"), "")
    scheme, _, credentials = str(value).partition(" ")
    if scheme.lower() != "basic":
        raise WriteKeyMissing
    try:
        user = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise WriteKeyMissing from None
    if not _KEY.fullmatch(user):
        raise WriteKeyMissing
    return user


def body_write_key(document: object) -> str:
    """The `writeKey` a browser SDK puts in the body (analytics.js, beacons); raises WriteKeyMissing."""
    key = document.get("writeKey") if isinstance(document, dict) else None
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise WriteKeyMissing
    return key


def presented_write_key(headers: Mapping[str, str] | None, document: object) -> str:
    """HTTP Basic when the request has it (analytics-next sends both), else the body's; raises WriteKeyMissing."""
    try:
        return write_key(headers)
    except WriteKeyMissing:
        return body_write_key(document)


def is_write_key_of(presented: str, channel_key: str) -> bool:
    """Whether `presented` is the channel's key, in time that does not depend on where they differ."""
    return bool(channel_key) and hmac.compare_digest(presented.encode(), channel_key.encode())


def allow_policy(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Allow every SDK route of this API and stage: API Gateway caches the answer per Authorization header."""
    api_arn, _, rest = str(event.get("methodArn", "")).partition("/")
    stage = rest.split("/", 1)[0] or "*"
    return {
        "principalId": "sdk-write-key",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{api_arn}/{stage}/*"}],
        },
        "usageIdentifierKey": key,
    }
