"""Each function's environment, read once at cold start into a validated settings object.

A missing or malformed variable fails the cold start loudly instead of a request quietly.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AwsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    region: str | None = Field(default=None, alias="AWS_REGION")
    # Empty in AWS; set (env.json, the local runner) to send every SDK call to moto, LocalStack or DynamoDB Local.
    endpoint_url: str | None = Field(default=None, alias="ENDPOINT_URL")

    @field_validator("endpoint_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class PrivacySettings(AwsSettings):
    profile_table: str = Field(alias="PROFILE_TABLE_NAME", min_length=3)
    key_vault_table: str = Field(alias="KEY_VAULT_TABLE_NAME", min_length=3)
    identity_index_table: str = Field(alias="IDENTITY_INDEX_TABLE_NAME", min_length=3)
    data_key_id: str = Field(alias="DATA_KEY_ID", min_length=1)
    tokenization_secret_id: str = Field(alias="TOKENIZATION_SECRET_ID", min_length=1)
    data_key_cache_seconds: int = Field(default=900, alias="DATA_KEY_CACHE_SECONDS", ge=0, le=3600)
    # The branch keys that wrap the data keys (touchpoints.privacy.branch_keys), each read once per this long: a
    # rotation's new version reaches every container within it (touchpoints.privacy.rotation.DEFAULT_SETTLE).
    branch_key_table: str = Field(alias="BRANCH_KEY_TABLE_NAME", min_length=3)
    branch_key_cache_seconds: int = Field(default=600, alias="BRANCH_KEY_CACHE_SECONDS", ge=0, le=600)


class ChannelSettings(PrivacySettings):
    # The API Gateway key id this channel's clients use; requests signed with another key are refused.
    channel_api_key_id: str = Field(alias="CHANNEL_API_KEY_ID", min_length=1)
    max_body_bytes: int = Field(default=262_144, alias="MAX_BODY_BYTES", gt=0)


_ORIGIN = r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$"


class BrowserSettings(BaseModel):
    """The sites whose pages may post to a channel's browser routes (CORS), from the WebAllowedOrigins parameter."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    allowed_origins: tuple[str, ...] = Field(default=(), alias="ALLOWED_ORIGINS")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            origins = tuple(o.strip() for o in value.split(",") if o.strip())
            if bad := [o for o in origins if not re.fullmatch(_ORIGIN, o)]:
                raise ValueError(f"{len(bad)} allowed origin(s) are not scheme://host[:port] (no path, no '*')")
            return origins
        return value


@lru_cache(maxsize=1)
def browser_settings() -> BrowserSettings:
    return BrowserSettings.model_validate(os.environ)


@lru_cache(maxsize=1)
def channel_settings() -> ChannelSettings:
    return ChannelSettings.model_validate(os.environ)
