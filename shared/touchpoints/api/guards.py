"""Checks made on the raw API Gateway event, before any parsing."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from touchpoints.errors import Forbidden, MalformedJson, PayloadTooLarge, UnsupportedMediaType

Guard = Callable[[dict[str, Any]], None]


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def json_body(max_bytes: Callable[[], int]) -> Guard:
    """Refuse oversize, non-JSON and non-UTF-8 bodies with a 4xx, never a 5xx."""

    def check(event: dict[str, Any]) -> None:
        body = event.get("body")
        if body is None:
            return
        content_type = _header(event, "content-type")
        if content_type is not None:
            if content_type.split(";")[0].strip().lower() != "application/json":
                raise UnsupportedMediaType("send the body as application/json")
            _normalize_content_type(event)
        raw: bytes
        if event.get("isBase64Encoded"):
            try:
                raw = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise MalformedJson("the base64 body does not decode") from None
        else:
            raw = body.encode("utf-8", "surrogatepass")
        if len(raw) > max_bytes():
            raise PayloadTooLarge(f"the body is larger than {max_bytes()} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJson("the body is not valid UTF-8") from None
        if text.strip():
            _check_json(text)

    return check


def _normalize_content_type(event: dict[str, Any]) -> None:
    """Media types are case-insensitive, the body parser's check is not: hand it the canonical form."""
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field) or {}
        for key in [k for k in headers if k.lower() == "content-type"]:
            headers[key] = ["application/json"] if field == "multiValueHeaders" else "application/json"


MAX_JSON_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_json(text: str) -> Any:
    """Refuse what would make the parser or validator fail with a 5xx: deep nesting, huge numbers, NaN.
    Returns the document."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedJson(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, and integers beyond the interpreter's digit limit
        raise MalformedJson("the body is not valid JSON") from None
    level, depth = [document], 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise MalformedJson(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
    return document


parse_json = _check_json


def api_key(expected_key_id: Callable[[], str], what: str) -> Guard:
    """API Gateway checked the key; this checks it is the key of this channel, not of another one."""

    def check(event: dict[str, Any]) -> None:
        identity = (event.get("requestContext") or {}).get("identity") or {}
        if identity.get("apiKeyId") != expected_key_id():
            raise Forbidden(f"these credentials may not post as {what}")

    return check


def iam_caller(what: str) -> Guard:
    """API Gateway verified an IAM (SigV4) signature: refuse requests that reached us without one, e.g. an API key's."""

    def check(event: dict[str, Any]) -> None:
        identity = (event.get("requestContext") or {}).get("identity") or {}
        if not identity.get("userArn"):
            raise Forbidden(f"{what} needs IAM credentials")

    return check


def all_of(*guards: Guard) -> Guard:
    def check(event: dict[str, Any]) -> None:
        for guard in guards:
            guard(event)

    return check
