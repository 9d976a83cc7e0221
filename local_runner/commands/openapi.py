"""The API's OpenAPI document: each API function's own resolver (Powertools) describes its routes,
the template says which routes are exposed and how callers authenticate.

    python -m local_runner openapi -o openapi.json      (needs PYTHONPATH=.:shared, as `make openapi` sets)
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_runner.emulator import template as cfn

TITLE = "Customer touchpoint ingestion"
VERSION = "1.0.0"
LOCAL_SERVER = "http://127.0.0.1:3000"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "channelApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The calling channel's API Gateway key; a channel may post only to its own routes.",
    },
    "sdkWriteKey": {
        "type": "http",
        "scheme": "basic",
        "description": (
            "A Segment-compatible SDK's write key (the channel's API key) as the HTTP Basic user, empty password. "
            "The SDK API's authorizer hands it to API Gateway, which meters it in the channel's usage plan."
        ),
    },
    "sigv4": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS Signature Version 4 of an IAM principal allowed to invoke the route (AWS_IAM).",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
}
_SCHEME_OF_AUTH = {"api_key": "channelApiKey", "iam": "sigv4", "authorizer": "sdkWriteKey"}

# API Gateway answers these itself, before any function runs, as {"message": "..."}: a client generated
# from this document must expect them beside the functions' error envelope.
GATEWAY_MESSAGE = "GatewayMessage"
GATEWAY_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": GATEWAY_MESSAGE,
    "description": (
        "API Gateway's own refusal, made before the function runs. Unknown routes and methods are "
        'answered 403 {"message": "Missing Authentication Token"} too.'
    ),
    "properties": {"message": {"type": "string", "title": "Message"}},
    "required": ["message"],
}
_GATEWAY_403 = {
    "api_key": (
        '{"message": "Forbidden"}: no x-api-key header, or a key that is not this channel\'s (not in its usage '
        'plan). {"message": "Missing Authentication Token"}: no such route or method.'
    ),
    "iam": (
        '{"message": "Missing Authentication Token"}: no SigV4 signature (or no such route or method); '
        "a signature that does not match, expired credentials or a principal without execute-api:Invoke "
        "get API Gateway's message saying so."
    ),
}
_GATEWAY_ONLY = {
    502: 'The function failed or could not start: {"message": "Internal server error"}',
    504: 'The function did not answer within 29 s: {"message": "Endpoint request timed out"}',
}
_ERROR_BODY = "#/components/schemas/ErrorBody"


def _gateway_refusals(operation: dict[str, Any], auth: str) -> None:
    """Document API Gateway's own answers (403, 413, 502, 504) beside the function's error envelope."""
    responses = operation.setdefault("responses", {})
    gateway = {"$ref": f"#/components/schemas/{GATEWAY_MESSAGE}"}
    either = {"application/json": {"schema": {"oneOf": [{"$ref": _ERROR_BODY}, gateway]}}}
    function_403 = responses.get("403", {}).get("description", "")
    responses["403"] = {
        "description": " ".join(filter(None, [f"API Gateway: {_GATEWAY_403[auth]}", f"The function: {function_403}"])),
        "content": either,
    }
    function_413 = responses.get("413", {}).get("description", "")
    responses["413"] = {
        "description": " ".join(
            filter(None, ['API Gateway, over 10 MB: {"message": "Request Too Long"}.', f"The function: {function_413}"])
        ),
        "content": either,
    }
    for status, description in _GATEWAY_ONLY.items():
        responses[str(status)] = {"description": description, "content": {"application/json": {"schema": gateway}}}
    operation["responses"] = dict(sorted(responses.items()))


class SpecDrift(Exception):
    """The template and the functions disagree on the routes, or two functions define one schema differently."""


def function_document(spec: cfn.FunctionSpec) -> dict[str, Any]:
    app = importlib.import_module(spec.module).app
    return json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))  # type: ignore[no-any-return]


def build(template: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One document for every route in the template, with its security scheme."""
    template = template if template is not None else cfn.load()
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for spec in cfn.functions(template):
        if not spec.routes:
            continue
        document = function_document(spec)
        for route in spec.routes:
            method = route.method.lower()
            operation = document.get("paths", {}).get(route.path, {}).get(method)
            if operation is None:
                raise SpecDrift(f"{spec.logical_id} does not serve {route.method} {route.path} as the template says")
            if route.auth in _SCHEME_OF_AUTH:
                operation["security"] = [{_SCHEME_OF_AUTH[route.auth]: []}]
                if route.auth != "authorizer":  # the SDK API's gateway answers in the SDKs' own shape (SdkError)
                    _gateway_refusals(operation, route.auth)
            else:  # the function checks the caller itself (the SDK API's browser routes: a write key in the body)
                operation["security"] = []
            operation["x-function"] = spec.logical_id
            paths.setdefault(route.path, {})[method] = operation
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if schemas.setdefault(name, schema) != schema:
                raise SpecDrift(f"schema {name} differs between functions")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Channels post touchpoints and consents with their own API key; compliance routes need "
                "SigV4 (AWS_IAM). Errors share one envelope: error.code, message, retryable, details. API "
                "Gateway's own refusals (403 without or with a wrong key or signature, 403 Missing Authentication "
                'Token for unknown routes, 413, 502, 504) are {"message": "..."} (GatewayMessage).'
            ),
        },
        "servers": [{"url": LOCAL_SERVER, "description": "python -m local_runner serve"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted({**schemas, GATEWAY_MESSAGE: GATEWAY_MESSAGE_SCHEMA}.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def write(path: Path | None) -> str:
    text = json.dumps(build(), indent=2, sort_keys=False) + "\n"
    if path is not None:
        path.write_text(text)
    return text
