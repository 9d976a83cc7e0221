"""API Gateway (REST, Lambda proxy integration) as the local runner emulates it.

Routes come from the template's `Api` events; a request is matched, authenticated (API key or
SigV4), turned into the proxy event API Gateway would send, and the function's proxy result is
turned back into an HTTP response. API Gateway's own refusals keep its status codes and bodies.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local_runner.emulator.principals import AuthenticationFailed, LocalPrincipal, authenticate
from local_runner.emulator.provision import LOCAL_ACCOUNT, LocalApiKey
from local_runner.emulator.template import ApiRoute, ApiSpec, FunctionSpec

# Invokes a function by logical id with an event: (succeeded, result or error object).
Invoker = Callable[[str, dict[str, Any]], tuple[bool, Any]]

API_ID = "localapi"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit
_PARAMETER = re.compile(r"\{([^}/]+?)(\+?)\}")


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_error(status: int, message: str, error_type: str) -> GatewayResponse:
    """A response API Gateway itself gives (not the function), with its body and headers."""
    return GatewayResponse(
        status,
        [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)],
        json.dumps({"message": message}).encode(),
    )


FORBIDDEN = gateway_error(403, "Forbidden", "ForbiddenException")
MISSING_TOKEN = gateway_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
BAD_GATEWAY = gateway_error(502, "Internal server error", "InternalServerErrorException")
TIMEOUT = gateway_error(504, "Endpoint request timed out", "IntegrationTimeoutException")
TOO_LARGE = gateway_error(413, "Request Too Long", "RequestTooLongException")
# API Gateway's default answers for the response types an authorizer can cause: (status, message, error type).
_AUTHORIZER_DEFAULTS = {
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource", "AccessDeniedException"),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "AUTHORIZER_FAILURE": (500, None, "AuthorizerFailureException"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, None, "AuthorizerConfigurationException"),
}


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    method: str  # upper case, or ANY
    resource: str  # the template path, e.g. /v1/compliance/erasures/{request_id}
    auth: str
    pattern: re.Pattern[str]
    static_segments: int
    api: str = ""
    authorizer: str | None = None
    api_key_required: bool = False

    @classmethod
    def of(cls, function: str, route: ApiRoute) -> Route:
        regex, position = "", 0
        for found in _PARAMETER.finditer(route.path):
            regex += re.escape(route.path[position : found.start()])
            regex += f"(?P<{_group(found[1])}>.+)" if found[2] else f"(?P<{_group(found[1])}>[^/]+)"
            position = found.end()
        regex += re.escape(route.path[position:])
        static = sum(1 for s in route.path.split("/") if s and "{" not in s)
        return cls(
            function,
            route.method.upper(),
            route.path,
            route.auth,
            re.compile(f"^{regex}/?$"),
            static,
            route.api,
            route.authorizer,
            route.api_key_required,
        )

    def parameters(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        if found is None:
            return None
        names = [m[1] for m in _PARAMETER.finditer(self.resource)]
        return {name: unquote(found[_group(name)]) for name in names}


def _group(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else "_" for c in name)


class RouteTable:
    """Every Api event of every function in the template; static paths win over parameters, as in API Gateway."""

    def __init__(self, specs: Sequence[FunctionSpec]) -> None:
        routes = [Route.of(spec.logical_id, route) for spec in specs for route in spec.routes]
        self.routes = sorted(routes, key=lambda r: (-r.static_segments, r.method == "ANY"))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in (method.upper(), "ANY"):
                continue
            parameters = route.parameters(path)
            if parameters is not None:
                return route, parameters
        return None


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # raw, as sent (percent-encoded)
    query: str  # raw query string, without '?'
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


class Gateway:
    """Authenticates a request for its route and builds the proxy event, like the API's stage would."""

    def __init__(
        self,
        routes: RouteTable,
        api_keys: Mapping[str, LocalApiKey],
        principals: Mapping[str, LocalPrincipal],
        stage: str = "v1",
        binary_media_types: Sequence[str] = (),
        apis: Mapping[str, ApiSpec] | None = None,
        invoke: Invoker | None = None,
    ) -> None:
        self.routes = routes
        self.api_keys_by_value = {key.value: key for key in api_keys.values()}
        self.principals = principals
        self.stage = stage
        self.binary_media_types = [t.replace("~1", "/") for t in binary_media_types]
        self.apis = dict(apis or {})
        self.invoke = invoke
        self._authorizer_cache: dict[tuple[str, str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}

    def prepare(self, request: HttpRequest, host: str) -> tuple[Route, dict[str, Any]] | GatewayResponse:  # noqa: PLR0911
        """The route and its proxy event, or the response API Gateway gives instead of calling the function."""
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return TOO_LARGE
        matched = self.routes.match(request.method, unquote(request.path))
        if matched is None:
            return MISSING_TOKEN  # what API Gateway answers for an unknown path or method
        route, parameters = matched
        identity: dict[str, Any] = {}
        if route.auth == "api_key":
            key = self.api_keys_by_value.get(request.header("x-api-key") or "")
            if key is None:
                return FORBIDDEN
            identity = {"apiKey": key.value, "apiKeyId": key.key_id}
        elif route.auth == "iam":
            url = f"http://{request.header('host') or host}{request.path}" + (
                f"?{request.query}" if request.query else ""
            )
            try:
                principal = authenticate(self.principals, request.method, url, request.headers, request.body)
            except AuthenticationFailed as refusal:
                return gateway_error(403, str(refusal), "IncompleteSignatureException")
            identity = principal.identity()
        elif route.auth == "authorizer":
            authorized = self._authorize(route, parameters, request)
            if isinstance(authorized, GatewayResponse):
                return authorized
            identity, authorizer_context = authorized
            event = self.event(route, parameters, request, identity)
            event["requestContext"]["authorizer"] = authorizer_context
            return route, event
        return route, self.event(route, parameters, request, identity)

    def _authorize(
        self, route: Route, parameters: dict[str, str], request: HttpRequest
    ) -> tuple[dict[str, Any], dict[str, Any]] | GatewayResponse:
        """A Lambda REQUEST authorizer as API Gateway runs it: identity sources first, the policy's answer cached
        per identity for its TTL, then (API key source AUTHORIZER) the usageIdentifierKey checked as an API key."""
        api = self.apis[route.api]
        authorizer = api.authorizers[str(route.authorizer)]
        identity_values = tuple(request.header(name) or "" for name in authorizer.identity_headers)
        if not all(identity_values):
            return self._gateway_response(api, "UNAUTHORIZED")
        cache_key = (route.api, str(route.authorizer), identity_values)
        cached = self._authorizer_cache.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            answer = cached[1]
        else:
            assert self.invoke is not None, "a gateway with Lambda authorizers needs an invoker"
            event = self.event(route, parameters, request, {})
            event.pop("body", None)
            event.pop("isBase64Encoded", None)
            method_arn = f"arn:aws:execute-api:us-east-1:{LOCAL_ACCOUNT}:{API_ID}/{self.stage}/{request.method.upper()}"
            event |= {"type": "REQUEST", "methodArn": method_arn + unquote(request.path)}
            succeeded, result = self.invoke(authorizer.function, event)
            if not succeeded:
                message = str((result or {}).get("errorMessage", ""))
                return self._gateway_response(
                    api, "UNAUTHORIZED" if message == "Unauthorized" else "AUTHORIZER_FAILURE"
                )
            if not isinstance(result, Mapping) or "policyDocument" not in result:
                return self._gateway_response(api, "AUTHORIZER_CONFIGURATION_ERROR")
            answer = dict(result)
            self._authorizer_cache[cache_key] = (time.monotonic() + authorizer.ttl_seconds, answer)
        method_arn = f"arn:aws:execute-api:us-east-1:{LOCAL_ACCOUNT}:{API_ID}/{self.stage}/{request.method.upper()}"
        if not _policy_allows(answer["policyDocument"], method_arn + unquote(request.path)):
            return self._gateway_response(api, "ACCESS_DENIED")
        identity: dict[str, Any] = {}
        if route.api_key_required:
            key_value = (
                answer.get("usageIdentifierKey") if api.api_key_source == "AUTHORIZER" else request.header("x-api-key")
            )
            key = self.api_keys_by_value.get(str(key_value or ""))
            if key is None:
                return self._gateway_response(api, "INVALID_API_KEY")
            identity = {"apiKey": key.value, "apiKeyId": key.key_id}
        context = {"principalId": answer.get("principalId"), **(answer.get("context") or {})}
        return identity, context

    def _gateway_response(self, api: ApiSpec, kind: str) -> GatewayResponse:
        """API Gateway's answer of this type, as the API's GatewayResponses customize it (or DEFAULT_4XX/5XX)."""
        status, message, error_type = _AUTHORIZER_DEFAULTS[kind]
        default = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        custom_status, template = api.gateway_responses.get(kind, (None, None))
        if template is None:
            template = api.gateway_responses.get(default, (None, None))[1]
        status = custom_status or status
        if template is None:
            return gateway_error(status, message or "Internal server error", error_type)
        body = template.replace("$context.error.messageString", json.dumps(message or "Internal server error"))
        return GatewayResponse(
            status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)], body.encode()
        )

    def event(
        self, route: Route, parameters: dict[str, str], request: HttpRequest, identity: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The REST API (v1) Lambda proxy event."""
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in [*request.headers, ("X-Forwarded-For", request.source_ip), ("X-Forwarded-Proto", "http")]:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        body, is_base64 = self._body(request, route)
        now = datetime.now(UTC)
        request_id = str(uuid.uuid4())
        return {
            "resource": route.resource,
            "path": unquote(request.path),
            "httpMethod": request.method.upper(),
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": API_ID,
                "resourcePath": route.resource,
                "httpMethod": request.method.upper(),
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.stage}{unquote(request.path)}",
                "accountId": LOCAL_ACCOUNT,
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": request.source_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": request.header("user-agent"),
                    "user": None,
                    "apiKey": None,
                    "apiKeyId": None,
                    "clientCert": None,
                    **identity,
                },
                "domainName": "localhost",
                "apiId": API_ID,
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }

    def _body(self, request: HttpRequest, route: Route | None = None) -> tuple[str | None, bool]:
        if not request.body:
            return None, False
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        api = self.apis.get(route.api) if route is not None else None
        patterns = api.binary_media_types if api is not None else self.binary_media_types
        binary = any(_media_type_matches(pattern, content_type) for pattern in patterns)
        if not binary:
            try:
                return request.body.decode("utf-8"), False
            except UnicodeDecodeError:
                pass  # not text: pass it on unchanged, base64-encoded
        return base64.b64encode(request.body).decode("ascii"), True


def _policy_allows(policy: Mapping[str, Any], method_arn: str) -> bool:
    """IAM's evaluation for one action on one resource: an explicit Deny wins, else any Allow."""
    statements = policy.get("Statement", [])
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        resources = statement.get("Resource", [])
        for resource in resources if isinstance(resources, list) else [resources]:
            pattern = "^" + ".*".join(re.escape(part) for part in str(resource).split("*")) + "$"
            if re.match(pattern, method_arn):
                if statement.get("Effect") == "Deny":
                    return False
                allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _media_type_matches(pattern: str, content_type: str) -> bool:
    if pattern == "*/*":
        return True
    kind, _, subtype = pattern.lower().partition("/")
    actual_kind, _, actual_subtype = content_type.partition("/")
    return kind == actual_kind and subtype in ("*", actual_subtype)


def to_http(result: Any) -> GatewayResponse:
    """The function's proxy result as an HTTP response; a malformed result is API Gateway's 502."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        return BAD_GATEWAY
    headers: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values)
    for name, value in (result.get("headers") or {}).items():
        if not any(n.lower() == name.lower() for n, _ in headers):
            headers.append((name, str(value)))
    body = result.get("body") or ""
    if not isinstance(body, str):
        return BAD_GATEWAY
    try:
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    except ValueError:
        return BAD_GATEWAY
    return GatewayResponse(int(result["statusCode"]), headers, payload)
