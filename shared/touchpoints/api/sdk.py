"""The Segment HTTP tracking API of one channel: /sdk/<channel>/v1/{batch,identify,track,page,screen,group,alias}.

What the Segment and RudderStack SDKs post, unchanged: HTTP Basic with the write key (API Gateway's
authorizer turns it into the channel's API key), JSON or gzip. A channel with browser routes (policies/sdk.yaml)
also serves /sdk/<channel>/browser/<call> to web pages: no authorizer (a beacon's write key is in its body),
so the function checks the key itself, and only the sites of ALLOWED_ORIGINS may post (CORS). Answers are
the ones the SDKs parse: 200 {"success": true}; errors {"success": false, "code", "message"} beside the
project's envelope. A valid batch stores its valid messages; each invalid one is recorded as a failed event (codes and
field paths, never a value). Answers never say who a message was about, nor that anyone was erased.
"""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

import base64
import binascii
import json
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from touchpoints.api.channel import channel_api
from touchpoints.api.channel_services import ChannelServices
from touchpoints.api.guards import parse_json
from touchpoints.api.responses import GuardedResolver, error_content
from touchpoints.errors import (
    DomainError,
    InvalidTouchpoint,
    MalformedJson,
    RetryableError,
    SubjectErased,
    WriteKeyUnavailable,
)
from touchpoints.ingestion import IngestStatus
from touchpoints.model import Channel, Touchpoint
from touchpoints.observability import MetricUnit, count_refusal, logger, metrics
from touchpoints.sdk.documents import BROWSER_CALLS, SDK_BODY, BrowserCall, SdkAnswer, SdkCall, SdkError
from touchpoints.sdk.failed_events import FailedEvent, failed_event
from touchpoints.sdk.mapping import Received, message_bytes, message_id, to_touchpoint
from touchpoints.sdk.policy import SdkPolicy, load_sdk_policy
from touchpoints.sdk.write_key import WriteKeyMissing, is_write_key_of, presented_write_key
from touchpoints.settings import browser_settings, channel_settings

SDK_PREFIX = "/sdk/"


class SdkRefusal(DomainError):
    """A request the SDK must not retry (4xx) or should (5xx), in the body shape every SDK parses."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.error_code = status, code


def sdk_answer(status: int, code: str | None = None, message: str = "", retryable: bool = False) -> Response:
    if code is None:
        return Response(200, content_types.APPLICATION_JSON, json.dumps({"success": True}))
    envelope = {"code": code, "message": message, "retryable": retryable, "details": []}
    body = {"success": False, "code": code, "message": message, "error": envelope}
    headers = {"Retry-After": "2"} if retryable else {}
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body), headers)


def _header(event: Mapping[str, Any], name: str) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return ""


def _raw_body(event: Mapping[str, Any], policy: SdkPolicy) -> bytes:
    """The body as the SDK meant it: base64 undone (the API passes every body as binary), gzip undone, bounded."""
    body = event.get("body") or ""
    limit = policy.limits.max_batch_bytes
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode()
    except (binascii.Error, ValueError):
        raise SdkRefusal(400, "malformed_json", "the base64 body does not decode") from None
    if "gzip" in _header(event, "content-encoding").lower():
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise SdkRefusal(400, "malformed_json", "the gzip body does not decompress") from None
    if len(raw) > limit:
        raise SdkRefusal(400, "payload_too_large", f"a request may carry at most {limit} bytes")
    return raw


def _messages(document: Any, call: SdkCall, policy: SdkPolicy) -> tuple[list[Any], datetime | None]:
    if not isinstance(document, dict):
        raise SdkRefusal(400, "invalid_batch", "the body must be a JSON object")
    if "batch" in document:  # a batch is a batch on any route, a message is one on /v1/batch too
        messages = document["batch"]
        if not isinstance(messages, list):
            raise SdkRefusal(400, "invalid_batch", "a batch carries its messages under `batch`")
    else:
        messages = [document]
    for message in (document, *messages):
        if isinstance(message, dict):
            message.pop("writeKey", None)  # a credential (analytics.js puts it in every message), never stored
    limit = policy.limits.max_message_bytes
    if any(message_bytes(m) > limit for m in messages):
        raise SdkRefusal(400, "message_too_large", f"a message may be at most {limit} bytes")
    sent_at = None
    if isinstance(document.get("sentAt"), str):
        try:
            sent_at = datetime.fromisoformat(document["sentAt"].replace("Z", "+00:00"))
        except ValueError:
            sent_at = None
    return messages, sent_at


def _received_at(event: Mapping[str, Any]) -> datetime:
    epoch_ms = (event.get("requestContext") or {}).get("requestTimeEpoch")
    return datetime.fromtimestamp(epoch_ms / 1000, UTC) if isinstance(epoch_ms, int) else datetime.now(UTC)


def _check_caller(event: Mapping[str, Any], channel: Channel, browser: bool) -> None:
    """Before the body is read: the authorizer's key is this channel's; a browser route's page is of an allowed site."""
    if browser:
        origin = _header(event, "origin")
        if origin and origin not in browser_settings().allowed_origins:
            raise SdkRefusal(403, "origin_not_allowed", "pages of this site may not post to this channel")
        return
    identity = (event.get("requestContext") or {}).get("identity") or {}
    if identity.get("apiKeyId") != channel_settings().channel_api_key_id:
        raise SdkRefusal(401, "invalid_write_key", f"this write key may not post as channel {channel.value}")


def _check_browser_write_key(
    event: Mapping[str, Any], channel: Channel, document: Any, write_key: Callable[[], str]
) -> None:
    """A browser route's key, from HTTP Basic or the body, against the channel's own (no authorizer saw it)."""
    try:
        presented = presented_write_key(event.get("headers"), document)
    except WriteKeyMissing:
        raise SdkRefusal(
            401, "invalid_write_key", "send the write key as HTTP Basic user or as `writeKey` in the body"
        ) from None
    try:
        channel_key = write_key()
    except WriteKeyUnavailable as error:
        raise SdkRefusal(503, error.code, "the channel's write key cannot be read; retry") from error
    if not is_write_key_of(presented, channel_key):
        raise SdkRefusal(401, "invalid_write_key", f"this write key may not post as channel {channel.value}")


def collect(
    event: Mapping[str, Any], channel: Channel, call: SdkCall, services: ChannelServices, browser: bool = False
) -> Response:
    """Map every message, store the valid ones, record the invalid ones as failed events."""
    policy = load_sdk_policy()
    _check_caller(event, channel, browser)
    try:
        document = parse_json(_raw_body(event, policy).decode("utf-8"))
    except (UnicodeDecodeError, MalformedJson):
        raise SdkRefusal(400, "malformed_json", "the body is not valid JSON") from None
    if browser:
        _check_browser_write_key(event, channel, document, services.write_key)
    messages, sent_at = _messages(document, call, policy)
    received = Received(_received_at(event), sent_at)
    service = services.ingestion()
    failed: list[FailedEvent] = []
    prepared = []
    for message in messages:
        if not isinstance(message, dict):
            failed.append(failed_event(channel.value, [], None, received.received_at))
            continue
        try:
            touchpoint: Touchpoint = to_touchpoint(
                message, channel, received, policy, None if call == "batch" else call
            )
            prepared.append(service.prepare(touchpoint))
        except InvalidTouchpoint as error:
            failed.append(
                failed_event(channel.value, error.problems, message_id(message, policy), received.received_at)
            )
    services.failed_events().record(failed)
    metrics.add_dimension(name="channel", value=channel.value)
    if failed:
        metrics.add_metric(name="SdkMessagesFailed", unit=MetricUnit.Count, value=len(failed))
    resent = False
    for item in prepared:
        try:
            outcome = service.ingest(item, resent_request=resent)
        except SubjectErased:
            continue  # a public key's holder must not learn that someone was erased
        except RetryableError as error:
            # The SDK retries the whole request; what was stored is recognised as duplicate then.
            raise SdkRefusal(503, error.code, "a dependency is unavailable; retry") from error
        resent |= outcome.status is IngestStatus.DUPLICATE
        name = "TouchpointsStored" if outcome.status is IngestStatus.STORED else "TouchpointsDuplicate"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    return sdk_answer(200)


def sdk_api(channel: Channel, services: ChannelServices) -> APIGatewayRestResolver:
    """The resolver of the channel's SDK routes. Its handler reads the raw event: Segment bodies are validated per
    message (a bad message fails alone), so the documented schema describes them but does not gate them."""
    browser = load_sdk_policy().channels[channel].browser
    # CORS headers are added by the handlers, not by the resolver: its own preflight answers 204 to any path it
    # cannot match, origin allowed or not.
    app = APIGatewayRestResolver(enable_validation=False)
    cors = _cors() if browser else None

    @app.post(
        f"{SDK_PREFIX}{channel.value}/v1/<call>",
        summary=f"Segment tracking API for {channel.value}: batch, identify, track, page, screen, group, alias",
        description=(
            f"Point a Segment or RudderStack SDK at `<base>/sdk/{channel.value}` with the channel's write key. "
            "HTTP Basic auth (write key as user), JSON or gzip. Invalid messages of a valid batch are recorded "
            "as failed events (GET /v1/reports/failed-events) and the others are stored."
        ),
        responses={
            200: {"description": 'Accepted: {"success": true}'},
            400: {
                "description": "Malformed JSON, not a batch, a message over 32 KB or a body over 500 KB",
                "content": error_content(SdkError),
            },
            401: {"description": "No write key, or not this channel's", "content": error_content(SdkError)},
            404: {"description": "No such call", "content": error_content(SdkError)},
            502: {"description": "The function failed (API Gateway)", "content": error_content(SdkError)},
            503: {
                "description": "A dependency is down; the SDK retries (stored messages become duplicates)",
                "content": error_content(SdkError),
            },
            504: {"description": "The function timed out (API Gateway)", "content": error_content(SdkError)},
        },
        tags=[f"{channel.value} sdk"],
    )
    def post_sdk_call(
        call: Annotated[SdkCall, Path()], body: Annotated[SDK_BODY | None, Body()] = None
    ) -> Response[SdkAnswer]:
        return collect(app.current_event.raw_event, channel, call, services)

    if browser:
        _browser_routes(app, channel, cors, services)

    @app.exception_handler(SdkRefusal)
    def _refused(error: SdkRefusal) -> Response:
        count_refusal(error.error_code, {"channel": channel.value})
        if error.status_code >= 500:
            logger.warning("sdk request failed", extra={"error_code": error.error_code})
        answer = sdk_answer(error.status_code, error.error_code, error.message, error.status_code >= 500)
        return _with_cors(answer, app, cors)  # a page of an allowed site may read why it was refused

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return sdk_answer(404, "not_found", "no such call")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.error("unexpected error", extra={"error_type": type(error).__name__})  # the type: text may hold PII
        return sdk_answer(500, "internal_error", "unexpected error", retryable=True)

    return app


def _cors() -> CORSConfig | None:
    """Answers to the allowed origins carry Access-Control-Allow-Origin (echoed); to others, no CORS header."""
    origins = browser_settings().allowed_origins
    if not origins:
        return None
    return CORSConfig(
        allow_origin=origins[0], extra_origins=list(origins[1:]), allow_headers=["X-Retry-Count"], max_age=600
    )


_GATEWAY_FAILURES: dict[int, OpenAPIResponse] = {
    502: {"description": "The function failed (API Gateway)", "content": error_content(SdkError)},
    504: {"description": "The function timed out (API Gateway)", "content": error_content(SdkError)},
}


def _with_cors(response: Response, app: APIGatewayRestResolver, cors: CORSConfig | None) -> Response:
    """Access-Control-Allow-Origin (echoed) and the rest, when the request's Origin is an allowed one."""
    if cors is not None:
        response.headers.update(cors.to_dict(_header(app.current_event.raw_event, "origin")))
    return response


def _browser_routes(
    app: APIGatewayRestResolver, channel: Channel, cors: CORSConfig | None, services: ChannelServices
) -> None:
    """/sdk/<channel>/browser/<call>: what web pages post (analytics.js's apiHost), and its CORS preflight."""
    path = f"{SDK_PREFIX}{channel.value}/browser/<call>"

    @app.post(
        path,
        summary=f"Segment tracking API for {channel.value} pages: analytics.js and beacons",
        description=(
            f"Set analytics.js's apiHost to `<host>/sdk/{channel.value}/browser`: it posts `/p`, `/i`, `/t`, `/g`, "
            "`/a`, `/b` (also the long names). The write key is HTTP Basic user or `writeKey` in the body "
            "(`text/plain` beacons); pages of origins outside WebAllowedOrigins are refused (403)."
        ),
        responses={
            200: {"description": 'Accepted: {"success": true}'},
            400: {
                "description": "Malformed JSON, a message over 32 KB or a body over 500 KB",
                "content": error_content(SdkError),
            },
            401: {"description": "No write key, or not this channel's", "content": error_content(SdkError)},
            403: {"description": "The page's origin is not allowed", "content": error_content(SdkError)},
            404: {"description": "No such call", "content": error_content(SdkError)},
            503: {"description": "A dependency is down; the SDK retries", "content": error_content(SdkError)},
            **_GATEWAY_FAILURES,
        },
        tags=[f"{channel.value} sdk"],
    )
    def post_browser_call(
        call: Annotated[BrowserCall, Path()], body: Annotated[SDK_BODY | None, Body()] = None
    ) -> Response[SdkAnswer]:
        if call not in BrowserCall.__args__:  # type: ignore[attr-defined]
            return _with_cors(sdk_answer(404, "not_found", "no such call"), app, cors)
        sdk_call = cast(SdkCall, BROWSER_CALLS.get(call, call))
        return _with_cors(collect(app.current_event.raw_event, channel, sdk_call, services, browser=True), app, cors)

    @app.route(
        path,
        method="OPTIONS",
        summary=f"CORS preflight of {channel.value}'s browser routes",
        description="From an origin in WebAllowedOrigins: 204 with Access-Control-Allow-Origin echoed; else 403.",
        responses={
            204: {"description": "Allowed: Access-Control-Allow-Origin, -Methods, -Headers, -Max-Age"},
            403: {"description": "The origin is not allowed (no CORS headers)", "content": error_content(SdkError)},
            404: {"description": "No such call", "content": error_content(SdkError)},
            **_GATEWAY_FAILURES,
        },
        tags=[f"{channel.value} sdk"],
    )
    def preflight(call: str) -> Response[str]:
        if _header(app.current_event.raw_event, "origin") not in browser_settings().allowed_origins:
            return sdk_answer(403, "origin_not_allowed", "pages of this site may not post to this channel")
        return _with_cors(Response(204, None, "", {"Access-Control-Allow-Methods": "OPTIONS,POST"}), app, cors)


class ChannelApp:
    """A channel function's two APIs: its own touchpoint routes (x-api-key) and the SDK routes (write key)."""

    def __init__(self, touchpoints: GuardedResolver, sdk: APIGatewayRestResolver) -> None:
        self.touchpoints, self.sdk = touchpoints, sdk

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        resolver = self.sdk if str(event.get("resource", "")).startswith(SDK_PREFIX) else self.touchpoints
        return resolver.resolve(dict(event), context)

    def get_openapi_json_schema(self, **kwargs: Any) -> str:
        document = json.loads(self.touchpoints.get_openapi_json_schema(**kwargs))
        extra = json.loads(self.sdk.get_openapi_json_schema(**kwargs))
        for operation in (op for methods in extra.get("paths", {}).values() for op in methods.values()):
            _body_required(operation)
        document.setdefault("paths", {}).update(extra.get("paths", {}))
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(extra.get("components", {}).get("schemas", {}))
        return json.dumps(document)


def _body_required(operation: dict[str, Any]) -> None:
    """The handler takes the body as optional only to read it raw: the document says a body is required."""
    body = operation.get("requestBody")
    if body is None:
        return
    body["required"] = True
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        if "anyOf" in schema:
            schema["anyOf"] = [option for option in schema["anyOf"] if option != {"type": "null"}]


def channel_app(channel: Channel, services: ChannelServices) -> ChannelApp:
    """What a channel's Lambda handler serves."""
    return ChannelApp(channel_api(channel, services), sdk_api(channel, services))
