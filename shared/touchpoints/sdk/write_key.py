"""The write-key authorizer's logic: an SDK's HTTP Basic credentials -> the API key API Gateway meters.

A write key is the channel's API key value (public for web and app, like analytics.js keys). The
authorizer only reads it; API Gateway then checks it is a key of the API's usage plans (else 401 from
the gateway response INVALID_API_KEY) and the channel function checks it is its own channel's key.
"""

from __future__ import annotations

import base64
import binascii
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
