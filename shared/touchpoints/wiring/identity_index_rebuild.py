"""The identity index rebuild function: its settings, wiring and handler.

Invoked by an operator after the index is lost (it has no backups), with channels stopped so that no touchpoint
starts a duplicate profile meanwhile. Event: ``{"segment": 0, "total_segments": 1, "cursor": null}``; the answer
carries the counts and the cursor to invoke again with, until ``done``. Segments can run in parallel.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, model_validator

from touchpoints.identity.rebuild import IdentityIndexRebuild
from touchpoints.observability import logger, metrics, tracer
from touchpoints.settings import PrivacySettings
from touchpoints.wiring.container import LambdaHandler, client, keyring, per_container


class IndexRebuildSettings(PrivacySettings):
    # Below this much time left, the run stops after its page and answers with the cursor to go on from.
    reserve_ms: int = Field(default=60_000, alias="REBUILD_TIME_RESERVE_MS", ge=0)
    page_size: int = Field(default=500, alias="REBUILD_PAGE_SIZE", gt=0, le=10_000)  # profile table items per scan


class RebuildRun(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: int = Field(default=0, ge=0)
    total_segments: int = Field(default=1, ge=1, le=1_000_000)  # DynamoDB's parallel scan limit
    cursor: str | None = None

    @model_validator(mode="after")
    def _segment_in_range(self) -> RebuildRun:
        if self.segment >= self.total_segments:
            raise ValueError("segment must be below total_segments")
        return self


@per_container
def index_rebuild_settings() -> IndexRebuildSettings:
    return IndexRebuildSettings.model_validate(os.environ)


@per_container
def index_rebuild() -> IdentityIndexRebuild:
    from touchpoints.adapters.identity_index import DynamoIndexRebuildStore
    from touchpoints.adapters.secrets import TokenizerSource

    settings = index_rebuild_settings()
    store = DynamoIndexRebuildStore(
        client(settings, "dynamodb"),
        settings.profile_table,
        settings.key_vault_table,
        settings.identity_index_table,
        page_size=settings.page_size,
    )
    tokenizer = TokenizerSource(client(settings, "secretsmanager"), settings.tokenization_secret_id)
    return IdentityIndexRebuild(store, keyring(settings).cipher_from_wrapped, tokenizer, lambda: datetime.now(UTC))


def identity_index_rebuild() -> LambdaHandler:
    """The Lambda handler of the rebuild: one segment, as far as the invocation's time allows."""

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        run = RebuildRun.model_validate(event)
        reserve = index_rebuild_settings().reserve_ms

        def out_of_time() -> bool:
            return context.get_remaining_time_in_millis() < reserve

        report = index_rebuild().run(run.segment, run.total_segments, run.cursor, should_stop=out_of_time)
        answer = {
            "segment": run.segment,
            "total_segments": run.total_segments,
            "cursor": report.cursor,
            "done": report.cursor is None,
            "counts": report.counts,
        }
        logger.info("identity index rebuilt", extra={k: v for k, v in answer.items() if k != "cursor"})
        return answer

    return lambda_handler
