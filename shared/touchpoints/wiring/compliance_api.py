"""The compliance API function: its settings, adapters and services, built once per container, and its handler.
The erasures it accepts are carried out by the erasure worker (`touchpoints.wiring.erasure`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from touchpoints.adapters.compliance_store import DynamoAuditLog, DynamoRequestStore, SqsErasureQueue
from touchpoints.adapters.export_store import S3ExportStore
from touchpoints.adapters.identity_log_store import DynamoIdentityLog
from touchpoints.adapters.profile_store import DynamoProfileStore
from touchpoints.adapters.secrets import TokenizerSource
from touchpoints.adapters.subject_records import DynamoSubjectRecords
from touchpoints.api.compliance import ComplianceServices, compliance_api
from touchpoints.api.responses import GuardedResolver
from touchpoints.compliance.erasure import ErasureOrder, ErasureService
from touchpoints.compliance.export import ExportDelivery
from touchpoints.compliance.policy import Regulation, load_compliance_policy
from touchpoints.compliance.queue import RequestQueue
from touchpoints.compliance.rights import SubjectRights
from touchpoints.compliance.settings import ComplianceApiSettings
from touchpoints.consent import load_policy
from touchpoints.observability import api_entrypoint
from touchpoints.wiring.container import LambdaHandler, client, keyring, per_container

IDEMPOTENCY_PK = "IDEMPOTENCY#erasure-submission"


@per_container
def compliance_api_settings() -> ComplianceApiSettings:
    return ComplianceApiSettings.model_validate(os.environ)


@per_container
def request_store() -> DynamoRequestStore:
    settings = compliance_api_settings()
    return DynamoRequestStore(client(settings, "dynamodb"), settings.compliance_table)


@per_container
def request_queue() -> RequestQueue:
    return RequestQueue(request_store())


@per_container
def subject_rights() -> SubjectRights:
    settings = compliance_api_settings()
    db = client(settings, "dynamodb")
    return SubjectRights(
        DynamoProfileStore(db, settings.profile_table, settings.key_vault_table, settings.identity_index_table),
        DynamoSubjectRecords(db, settings.profile_table, settings.key_vault_table, settings.identity_index_table),
        keyring(settings),
        TokenizerSource(client(settings, "secretsmanager"), settings.tokenization_secret_id),
        DynamoRequestStore(db, settings.compliance_table),
        DynamoAuditLog(db, settings.audit_table),
        load_compliance_policy(),
        load_policy(),
        export_delivery(),
    )


@per_container
def identity_log() -> DynamoIdentityLog:
    settings = compliance_api_settings()
    return DynamoIdentityLog(client(settings, "dynamodb"), settings.profile_table)


@per_container
def export_delivery() -> ExportDelivery:
    settings = compliance_api_settings()
    policy = load_compliance_policy().export
    store = S3ExportStore(client(settings, "s3"), settings.export_bucket, settings.export_key_arn)
    inline_max_bytes = (
        policy.inline_max_bytes if settings.export_inline_max_bytes is None else settings.export_inline_max_bytes
    )
    return ExportDelivery(store, inline_max_bytes, policy.link_seconds)


@per_container
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        expires_after_seconds=compliance_api_settings().idempotency_seconds, raise_on_no_idempotency_key=True
    )


@per_container
def erasure_intake() -> Callable[..., dict[str, Any]]:
    """Submits an erasure; the same one (subject, tokens, regulation, case) within a day gets the same answer."""
    settings = compliance_api_settings()
    db = client(settings, "dynamodb")
    service = ErasureService(
        DynamoRequestStore(db, settings.compliance_table),
        DynamoAuditLog(db, settings.audit_table),
        load_compliance_policy(),
        queue=SqsErasureQueue(client(settings, "sqs"), settings.erasure_queue_url),
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.compliance_table,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=IDEMPOTENCY_PK,
        boto3_client=db,
    )

    # Only ids and tokens are hashed into the key and only the status is kept: no personal value is stored.
    @idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=idempotency_config())
    def submit(*, order: dict[str, Any], actor: str) -> dict[str, Any]:
        erasure = ErasureOrder(
            regulation=Regulation(order["regulation"]),
            case_reference=order["case_reference"],
            subject_id=order["subject_id"],
            tokens=tuple(order["tokens"]),
            suppress=order["suppress"],
        )
        return service.submit(erasure, actor).status()

    return submit


SERVICES = ComplianceServices(
    settings=compliance_api_settings,
    subject_rights=subject_rights,
    idempotency_config=idempotency_config,
    erasure_intake=erasure_intake,
    request_queue=request_queue,
    request_store=request_store,
    identity_log=identity_log,
)


def compliance_function() -> tuple[GuardedResolver, LambdaHandler]:
    """The compliance function's app (its routes) and its Lambda handler."""
    app = compliance_api(SERVICES)
    return app, api_entrypoint(app)
