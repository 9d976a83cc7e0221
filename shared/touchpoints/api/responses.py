"""One error envelope for every function, built from domain errors and validation errors.

Error bodies name fields and codes, never the submitted values: those may be personal data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict

from touchpoints.errors import DomainError, FieldProblem, InvalidTouchpoint, MalformedJson, UnsupportedMediaType
from touchpoints.observability import count_refusal, logger


class ErrorProblem(BaseModel):
    loc: list[str | int]
    code: str
    message: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    retryable: bool
    details: list[ErrorProblem]


class ErrorBody(BaseModel):
    """The error envelope of every function; some errors add top-level members (e.g. what was stored)."""

    model_config = ConfigDict(extra="allow")
    error: ErrorInfo


def error_content(model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    return {content_types.APPLICATION_JSON: {"model": model}}


RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}

ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    400: {"description": "Malformed JSON or invalid UTF-8 (error.code malformed_json)", "content": error_content()},
    403: {"description": "These credentials may not use this route (error.code forbidden)", "content": error_content()},
    404: {"description": "No such route or resource (error.code not_found)", "content": error_content()},
    409: {
        "description": "The person was erased and is suppressed (error.code subject_erased)",
        "content": error_content(),
    },
    413: {"description": "Body larger than allowed (error.code payload_too_large)", "content": error_content()},
    415: {
        "description": "Body is not application/json (error.code unsupported_media_type)",
        "content": error_content(),
    },
    422: {"description": "Validation failed; error.details lists each field and code", "content": error_content()},
    503: {
        "description": (
            "A dependency (KMS, DynamoDB, secret) is unavailable; nothing, or only the listed part, was stored; retry"
        ),
        "headers": RETRY_AFTER_HEADER,
        "content": error_content(),
    },
}


def error_body(error: DomainError) -> dict[str, Any]:
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "retryable": error.retryable,
            "details": [p.as_dict() for p in error.problems],
        },
        **error.context,
    }


def json_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, content_types.APPLICATION_JSON, dict(body), dict(headers or {}))


def error_response(error: DomainError) -> Response:
    headers = {"Retry-After": "2"} if error.retryable else {}
    return json_response(error.status, error_body(error), headers)


def proxy_error(error: DomainError) -> dict[str, Any]:
    """An API Gateway proxy result, for refusals made before the resolver runs."""
    headers = {"Content-Type": content_types.APPLICATION_JSON, **({"Retry-After": "2"} if error.retryable else {})}
    return {
        "statusCode": error.status,
        "headers": headers,
        "body": json.dumps(error_body(error)),
        "isBase64Encoded": False,
    }


def problems_from_validation(errors: Iterable[Mapping[str, Any]]) -> list[FieldProblem]:
    """Keep where and what; drop `input` and `ctx`, which echo the submitted values."""
    return [
        FieldProblem(tuple(loc for loc in e.get("loc", ()) if loc != "body"), str(e.get("type")), str(e.get("msg")))
        for e in errors
    ]


def validation_error(error: RequestValidationError) -> DomainError:
    errors = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return MalformedJson("the body is not valid JSON")
    return InvalidTouchpoint("the request does not match the schema", problems_from_validation(errors))


def install_error_handlers(app: APIGatewayRestResolver, on_error: Callable[[str], None]) -> None:
    """Every error answer in the envelope; `on_error` hears each answer's error code."""

    def answer(error: DomainError) -> Response:
        on_error(error.code)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        return answer(validation_error(error))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response:
        return answer(UnsupportedMediaType("send the body as application/json"))

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response:
        if error.status >= 500:
            logger.warning("request failed", extra={"error_code": error.code})
        return answer(error)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        on_error("not_found")
        return json_response(
            404, {"error": {"code": "not_found", "message": "no such route", "retryable": False, "details": []}}
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        # The type only: an exception's text may quote personal data.
        logger.error("unexpected error", extra={"error_type": type(error).__name__})
        on_error("internal_error")
        return json_response(
            500, {"error": {"code": "internal_error", "message": "unexpected error", "retryable": True, "details": []}}
        )


class GuardedResolver(APIGatewayRestResolver):
    """A REST resolver that refuses callers and bodies before parsing them. With `refusal_dimensions`, every
    error answer is counted (metric RequestsRefused) under those dimensions and its error code."""

    def __init__(
        self,
        guard: Callable[[dict[str, Any]], None],
        refusal_dimensions: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self._refusal_dimensions = refusal_dimensions
        install_error_handlers(self, self._refused)

    def _refused(self, error_code: str) -> None:
        if self._refusal_dimensions is not None:
            count_refusal(error_code, self._refusal_dimensions)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            self._guard(dict(event))
        except DomainError as error:
            logger.info("request refused", extra={"error_code": error.code})
            self._refused(error.code)
            return proxy_error(error)
        return super().resolve(event, context)
