"""The SDK routes' bodies and answers as the OpenAPI document describes them (the mapping reads raw messages)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SdkCall = Literal["batch", "identify", "track", "page", "screen", "group", "alias"]


class SdkAnswer(BaseModel):
    success: bool = Field(description="true: accepted (invalid messages of a batch are reported as failed events)")


class SdkMessageDoc(BaseModel):
    """One Segment message: userId or anonymousId is required; traits listed in policies/sdk.yaml are kept."""

    model_config = ConfigDict(extra="allow")

    type: Literal["identify", "track", "page", "screen", "group", "alias"] | None = None
    messageId: str = Field(max_length=100, pattern=r"^[A-Za-z0-9._:@\-]{1,100}$")
    userId: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:@\-]{1,128}$")
    anonymousId: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:@\-]{1,128}$")
    event: str | None = Field(default=None, max_length=200)
    traits: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: str | None = None


class SdkBatchDoc(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[SdkMessageDoc]
    sentAt: str | None = None


SDK_BODY = SdkBatchDoc | SdkMessageDoc


class SdkError(BaseModel):
    """Every refusal of the SDK API, the gateway's included: the SDKs read `code` and `message`."""

    model_config = ConfigDict(extra="allow")

    success: Literal[False]
    code: str = Field(description="invalid_write_key, malformed_json, payload_too_large, message_too_large, ...")
    message: str
