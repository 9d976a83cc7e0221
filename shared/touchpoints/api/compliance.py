"""The compliance team's API: data-subject requests, behind IAM auth and the operator role only.

API Gateway checks the SigV4 signature and the role's execute-api:Invoke permission; this
function checks again that the caller is the compliance operator role (defence in depth),
so a channel's API key never reaches these routes, even through a misconfigured method.
The caller is read from requestContext.identity.userArn: the role's ARN or a session of it
(arn:aws:sts::<account>:assumed-role/<role name>/<session>).
"""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from touchpoints.api import guards
from touchpoints.api.responses import ERROR_RESPONSES, GuardedResolver, json_response
from touchpoints.channels.common import Code, CustomerData, OpaqueId, Phone, Strict, SubjectIdentifiers
from touchpoints.compliance.certificate import certificate_text, erasure_certificate
from touchpoints.compliance.erasure import RequestStore
from touchpoints.compliance.model import RequestNotFound
from touchpoints.compliance.policy import Regulation, load_compliance_policy
from touchpoints.compliance.queue import MAX_PAGE, RequestQueue
from touchpoints.compliance.rights import RequestMeta, SubjectRef, SubjectRights
from touchpoints.compliance.settings import ComplianceApiSettings
from touchpoints.errors import Forbidden
from touchpoints.model import ALL_CHANNELS, Channel, PersonalField
from touchpoints.observability import MetricUnit, metrics

PREFIX = "/v1/compliance"
_ROLE_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[\w+=,.@-]+)$")
RequestId = Annotated[str, StringConstraints(pattern=r"^dsr_[0-9a-f]{32}$", strict=True)]
SubjectId = Annotated[str, StringConstraints(pattern=r"^sub_[0-9a-f]{32}$", strict=True)]
Purpose = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$", strict=True)]
_LOOKS_PERSONAL = (
    re.compile(r"[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}", re.IGNORECASE),  # an RFC, check digit or not
    re.compile(r"[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d", re.IGNORECASE),  # a CURP
    re.compile(r"(?:\d[.\-]?){9,}\d"),  # ten digits or more, separated or not: a phone number
)


def _not_personal(value: str) -> str:
    if any(pattern.fullmatch(value) for pattern in _LOOKS_PERSONAL):
        raise PydanticCustomError("personal_case_reference", "a case reference must not be an RFC, CURP or phone")
    return value


# The compliance team's case number: a reference, never a name, an email, an RFC, a CURP or a phone number.
CaseReference = Annotated[Code, AfterValidator(_not_personal)]

QueueSelection = Literal["open", "all", "received", "in_progress", "completed", "failed"]
PageToken = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9_-]+$")]


def operator_role(role_arn: Callable[[], str]) -> guards.Guard:
    """Only the compliance operator role, or one of its sessions, may call; API keys are not credentials here."""

    def check(event: dict[str, Any]) -> None:
        identity = (event.get("requestContext") or {}).get("identity") or {}
        caller = identity.get("userArn") or ""
        role = _ROLE_ARN.match(role_arn())
        if role is None or not caller:
            raise Forbidden("the compliance routes need the compliance operator's IAM credentials")
        session_prefix = f"arn:{role['partition']}:sts::{role['account']}:assumed-role/{role['name']}/"
        if caller != role_arn() and not caller.startswith(session_prefix):
            raise Forbidden("the compliance routes need the compliance operator's IAM credentials")

    return check


class SubjectIn(SubjectIdentifiers):
    """The person a request is about: their subject id, any identifier the system tokenizes, or both."""

    subject_id: SubjectId | None = None

    def ref(self) -> SubjectRef:
        return SubjectRef(self.subject_id, self.identifiers())


class RequestIn(Strict):
    subject: SubjectIn
    regulation: Regulation
    case_reference: CaseReference


class ErasureIn(RequestIn):
    suppress: bool | None = Field(default=None, description="Refuse future touchpoints with these identifiers")


class CorrectionsIn(CustomerData):
    """Corrected values, validated and normalized as a channel's would be."""

    whatsapp: Phone | None = None
    messenger_id: OpaqueId | None = None
    push_token: OpaqueId | None = None

    def fields(self) -> dict[PersonalField, str]:
        values = self.personal_data()
        extra = {PersonalField.WHATSAPP: self.whatsapp, PersonalField.MESSENGER_ID: self.messenger_id}
        extra[PersonalField.PUSH_TOKEN] = self.push_token
        values.update({k: v for k, v in extra.items() if v is not None})
        return values


class RectificationIn(RequestIn):
    corrections: CorrectionsIn

    @model_validator(mode="after")
    def _corrects_something(self) -> "RectificationIn":
        if not self.corrections.fields():
            raise PydanticCustomError("no_correction", "name at least one corrected value")
        return self


class ObjectionItem(Strict):
    purpose: Purpose
    channel: Channel | Literal["all"] = ALL_CHANNELS


class ObjectionIn(RequestIn):
    objections: Annotated[list[ObjectionItem], Field(min_length=1, max_length=20)]


def _caller(app: GuardedResolver) -> str:
    return str(app.current_event.request_context.identity.user_arn)


def _meta(app: GuardedResolver, body: RequestIn) -> RequestMeta:
    return RequestMeta(body.regulation, body.case_reference, _caller(app))


def _count(action: str) -> None:
    metrics.add_metric(name=f"Compliance{action}", unit=MetricUnit.Count, value=1)


class IdentityLogPages(Protocol):
    def page(self, day: date, kind: str, limit: int, next_token: str | None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ComplianceServices:
    """What the compliance routes use, handed in by `touchpoints.wiring.compliance_api`: factories built once per
    container, called on a request's first use."""

    settings: Callable[[], ComplianceApiSettings]
    subject_rights: Callable[[], SubjectRights]
    idempotency_config: Callable[[], IdempotencyConfig]
    erasure_intake: Callable[[], Callable[..., dict[str, Any]]]
    request_queue: Callable[[], RequestQueue]
    request_store: Callable[[], RequestStore]
    identity_log: Callable[[], IdentityLogPages]


def compliance_api(services: ComplianceServices) -> GuardedResolver:
    """The resolver of the compliance function."""
    app = GuardedResolver(
        guards.all_of(
            operator_role(lambda: services.settings().operator_role_arn),
            guards.json_body(lambda: services.settings().max_body_bytes),
        ),
        enable_validation=True,
    )
    tags = ["compliance"]

    @app.post(
        f"{PREFIX}/erasures",
        summary="Erase a person (GDPR art. 17, CCPA deletion, LFPDPPP cancelación)",
        description="Accepted at once and carried out asynchronously; follow the request at its status URL.",
        responses={202: {"description": "Accepted; the body is the request's status"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def post_erasure(body: Annotated[ErasureIn, Body()]) -> Response[dict[str, Any]]:
        rights = services.subject_rights()
        subject_id, tokens = rights.locate(body.subject.ref())
        suppress = body.suppress
        if suppress is None:
            suppress = load_compliance_policy().erasure.suppress_by_default
        order = {
            "regulation": body.regulation.value,
            "case_reference": body.case_reference,
            "subject_id": subject_id,
            "tokens": sorted(tokens),
            "suppress": suppress,
        }
        services.idempotency_config().register_lambda_context(app.lambda_context)
        status = services.erasure_intake()(order=order, actor=_caller(app))
        _count("ErasureAccepted")
        return json_response(202, status, {"Location": f"{PREFIX}/requests/{status['request_id']}"})

    @app.get(
        f"{PREFIX}/requests",
        summary="The request queue: data-subject requests by legal deadline, with days left",
        description=(
            "Earliest deadline first, `limit` a page; pass `next_token` back for the next page. `state` is one "
            "state, `open` (received, in progress or failed: the default) or `all`. `days_left` is negative "
            "once the deadline has passed. No personal data: ids, case references, times."
        ),
        responses={200: {"description": "One page of the queue"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def get_request_queue(
        state: Annotated[QueueSelection, Query()] = "open",
        regulation: Annotated[Regulation | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        next_token: Annotated[PageToken | None, Query()] = None,
    ) -> Response[dict[str, Any]]:
        return json_response(200, services.request_queue().page(state, regulation, limit, next_token))

    @app.get(
        f"{PREFIX}/requests/<request_id>",
        summary="State, timestamps, counts and legal deadline of a data-subject request",
        responses={200: {"description": "The request's status"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def get_request(request_id: Annotated[RequestId, Path()]) -> Response[dict[str, Any]]:
        request = services.request_store().get(request_id)
        if request is None:
            raise RequestNotFound("no such request")
        return json_response(200, request.status())

    @app.get(
        f"{PREFIX}/requests/<request_id>/certificate",
        summary="The certificate of a completed erasure: steps, times, counts, deadline met; no personal data",
        description="`format=text` answers the same facts as text/plain, for filing or printing.",
        responses={
            200: {
                "description": "The certificate (application/json, or text/plain with format=text)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **ERROR_RESPONSES,
            409: {
                "description": "Not an erasure (not_an_erasure), or not completed yet (request_not_completed)",
                "content": ERROR_RESPONSES[409]["content"],
            },
        },
        tags=tags,
    )
    def get_certificate(
        request_id: Annotated[RequestId, Path()],
        format: Annotated[Literal["json", "text"], Query()] = "json",
    ) -> Response[Any]:
        request = services.request_store().get(request_id)
        if request is None:
            raise RequestNotFound("no such request")
        certificate = erasure_certificate(request)
        if format == "text":
            return Response(200, "text/plain; charset=utf-8", certificate_text(certificate))
        return json_response(200, certificate)

    @app.get(
        f"{PREFIX}/identity-log",
        summary="Merges and identity conflicts of one day, for review",
        description=(
            "`kind=conflict` (the default): touchpoints whose identifiers found profiles that are not one person "
            "(two values of a unique kind), stored on the strongest match and left apart. `kind=merge`: profiles "
            "merged, with their state and counts. Subject ids, identifier kinds and the rule applied: no personal "
            "data. `day` in UTC (default today); `next_token` from the previous page."
        ),
        responses={200: {"description": "One page of the day's log"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def get_identity_log(
        day: Annotated[date | None, Query()] = None,
        kind: Annotated[Literal["conflict", "merge"], Query()] = "conflict",
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        next_token: Annotated[PageToken | None, Query()] = None,
    ) -> Response[dict[str, Any]]:
        on = day or datetime.now(UTC).date()
        return json_response(200, services.identity_log().page(on, kind, limit, next_token))

    @app.post(
        f"{PREFIX}/exports",
        summary="Everything held about a person, decrypted, as a portable JSON document (access, portability)",
        description=(
            "Up to the policy's `export.inline_max_bytes` (1 MiB) the answer is the document itself "
            "(`format` touchpoints.subject-export/1). A larger one is stored encrypted in the export bucket and the "
            "answer links to it: `format` touchpoints.subject-export-link/1 with `url` (a presigned GET, short-lived), "
            "`expires_at`, `content_type`, `bytes` and `sha256`. 503 `export_storage_unavailable` if it cannot be "
            "stored."
        ),
        responses={200: {"description": "The export document, or a short-lived link to it"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def post_export(body: Annotated[RequestIn, Body()]) -> Response[dict[str, Any]]:
        document = services.subject_rights().export(body.subject.ref(), _meta(app, body))
        _count("Export")
        # The document is personal data: it must not be cached on the way back.
        return json_response(200, document, {"Cache-Control": "no-store"})

    @app.post(
        f"{PREFIX}/rectifications",
        summary="Correct identity or contact values",
        responses={200: {"description": "Corrected; the body is the request's status"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def post_rectification(body: Annotated[RectificationIn, Body()]) -> Response[dict[str, Any]]:
        status = services.subject_rights().rectify(body.subject.ref(), body.corrections.fields(), _meta(app, body))
        _count("Rectification")
        return json_response(200, status)

    @app.post(
        f"{PREFIX}/objections",
        summary="Withdraw consent for a purpose, on one channel or all; effective from the next touchpoint",
        responses={200: {"description": "Withdrawn; the body is the request's status"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def post_objection(body: Annotated[ObjectionIn, Body()]) -> Response[dict[str, Any]]:
        objections = [
            (o.purpose, o.channel.value if isinstance(o.channel, Channel) else o.channel) for o in body.objections
        ]
        status = services.subject_rights().object(body.subject.ref(), objections, _meta(app, body))
        _count("Objection")
        return json_response(200, status)

    @app.post(
        f"{PREFIX}/suppression-lifts",
        summary="Let an erased person's identifiers be used again (the person came back and asks to)",
        description="Removes suppression markers only; the next touchpoint with them starts a new profile.",
        responses={200: {"description": "Lifted; the body is the request's status"}, **ERROR_RESPONSES},
        tags=tags,
    )
    def post_suppression_lift(body: Annotated[RequestIn, Body()]) -> Response[dict[str, Any]]:
        status = services.subject_rights().lift_suppression(body.subject.ref(), _meta(app, body))
        _count("SuppressionLift")
        return json_response(200, status)

    return app
