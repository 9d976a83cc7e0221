"""Environment of the compliance functions, built once per container (touchpoints.wiring.compliance_api, .erasure)."""

from __future__ import annotations

from pydantic import Field, field_validator

from touchpoints.settings import AwsSettings, PrivacySettings


class ComplianceApiSettings(PrivacySettings):
    compliance_table: str = Field(alias="COMPLIANCE_TABLE_NAME", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE_NAME", min_length=3)
    erasure_queue_url: str = Field(alias="ERASURE_QUEUE_URL", min_length=1)
    # Only callers signed as this role (IAM auth at API Gateway) may use the compliance routes.
    operator_role_arn: str = Field(alias="COMPLIANCE_OPERATOR_ROLE_ARN", pattern=r"^arn:[\w-]+:iam::\d{12}:role/.+$")
    max_body_bytes: int = Field(default=65_536, alias="MAX_BODY_BYTES", gt=0)
    # Exports too large to answer inline go to this bucket, encrypted under this key (the bucket policy insists).
    export_bucket: str = Field(alias="EXPORT_BUCKET_NAME", min_length=3)
    export_key_arn: str = Field(alias="EXPORT_KEY_ARN", min_length=1)
    # Blank: the policy's inline_max_bytes. Set (e.g. 0) to send every export through the bucket.
    export_inline_max_bytes: int | None = Field(default=None, alias="EXPORT_INLINE_MAX_BYTES", ge=0)
    idempotency_seconds: int = Field(default=86_400, alias="IDEMPOTENCY_SECONDS", gt=0)

    @field_validator("export_inline_max_bytes", mode="before")
    @classmethod
    def _blank_is_policy(cls, value: str | None) -> str | None:
        return value or None


class ErasureWorkerSettings(AwsSettings):
    profile_table: str = Field(alias="PROFILE_TABLE_NAME", min_length=3)
    key_vault_table: str = Field(alias="KEY_VAULT_TABLE_NAME", min_length=3)
    identity_index_table: str = Field(alias="IDENTITY_INDEX_TABLE_NAME", min_length=3)
    compliance_table: str = Field(alias="COMPLIANCE_TABLE_NAME", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE_NAME", min_length=3)
    erasure_queue_url: str = Field(alias="ERASURE_QUEUE_URL", min_length=1)
    # Tokens recorded before a secret rotation are suppressed in its new version too (Tokenizer.lineage).
    tokenization_secret_id: str = Field(alias="TOKENIZATION_SECRET_ID", min_length=1)
    page_size: int | None = Field(default=None, alias="ERASURE_PAGE_SIZE", gt=0, le=10_000)
    # Must match the queue's RedrivePolicy: the last attempt marks the request failed before the DLQ takes it.
    max_receives: int = Field(default=5, alias="ERASURE_MAX_RECEIVES", gt=0)
    # Below this much time left, the worker checkpoints and hands the rest to a fresh invocation.
    reserve_ms: int = Field(default=10_000, alias="ERASURE_TIME_RESERVE_MS", ge=0)

    @field_validator("page_size", mode="before")
    @classmethod
    def _blank_is_default(cls, value: str | None) -> str | None:
        return value or None


class DeadlineCheckSettings(AwsSettings):
    compliance_table: str = Field(alias="COMPLIANCE_TABLE_NAME", min_length=3)
    branch_key_table: str = Field(alias="BRANCH_KEY_TABLE_NAME", min_length=3)  # the rotation record's heartbeat
