"""The identity log spread over a day's shards still reads as one log: every entry once, oldest first, page by page,
including entries written before the shards (one unsharded partition a day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from touchpoints.adapters.identity_log_store import DynamoIdentityLog, InvalidLogToken
from touchpoints.items import identity_log as log_item

DAY = date(2026, 11, 27)  # Buen Fin


def _entry(kind: str, at: datetime, log_id: str, pk: str) -> dict[str, Any]:
    s = lambda v: {"S": v}  # noqa: E731
    return {
        log_item.PK: s(pk),
        log_item.SK: s(f"{kind}#{at.isoformat()}#{log_id}"),
        log_item.KIND: s(kind),
        log_item.LOG_ID: s(log_id),
        log_item.AT: s(at.isoformat()),
        log_item.CHANNEL: s("web"),
        log_item.EVENT_ID: s(f"event-{log_id}"),
        log_item.SURVIVOR: s("sub_survivor"),
        log_item.SUBJECTS: {"L": [s("sub_absorbed")]},
        log_item.KINDS: {"L": [s("email")]},
        log_item.CONFLICTING_KINDS: {"L": []},
        log_item.RULE: s("survivor:strongest_identifier"),
    }


@pytest.fixture
def day_of_merges(local_aws) -> tuple[DynamoIdentityLog, list[str]]:
    table = local_aws.table("ProfileTable")
    start = datetime(2026, 11, 27, 9, tzinfo=UTC)
    written = []
    for n in range(37):
        at, log_id = start + timedelta(seconds=n), f"merge-sub_{n:04d}"
        # the first five as written before the shards: the day's one partition
        pk = f"{log_item.PK_PREFIX}{DAY.isoformat()}" if n < 5 else log_item.partition(DAY.isoformat(), log_id)
        local_aws.dynamodb.put_item(TableName=table, Item=_entry(log_item.MERGE, at, log_id, pk))
        written.append(f"event-{log_id}")
    local_aws.dynamodb.put_item(
        TableName=table, Item=_entry(log_item.CONFLICT, start, "web:x", log_item.partition(DAY.isoformat(), "web:x"))
    )
    return DynamoIdentityLog(local_aws.dynamodb, table), written


def test_a_days_merges_spread_over_its_shards_page_back_oldest_first_each_once(day_of_merges) -> None:
    log, written = day_of_merges
    assert len({log_item.partition(DAY.isoformat(), f"merge-sub_{n:04d}") for n in range(37)}) == log_item.SHARDS
    read, token, pages = [], None, 0
    while True:
        page = log.page(DAY, "merge", 5, token)
        assert len(page["entries"]) <= 5
        read += [e["event_id"] for e in page["entries"]]
        pages, token = pages + 1, page["next_token"]
        if token is None:
            break
    assert read == written and pages == 8  # 37 entries, 5 a page: the last page holds 2 and says it is the last


def test_one_page_holds_the_whole_day_when_it_fits(day_of_merges) -> None:
    log, written = day_of_merges
    page = log.page(DAY, "merge", 100, None)
    assert [e["event_id"] for e in page["entries"]] == written and page["next_token"] is None
    conflicts = log.page(DAY, "conflict", 100, None)
    assert [e["event_id"] for e in conflicts["entries"]] == ["event-web:x"]


def test_a_token_of_another_day_or_kind_or_made_up_is_refused(day_of_merges) -> None:
    log, _ = day_of_merges
    token = log.page(DAY, "merge", 5, None)["next_token"]
    with pytest.raises(InvalidLogToken):
        log.page(DAY + timedelta(days=1), "merge", 5, token)
    with pytest.raises(InvalidLogToken):
        log.page(DAY, "conflict", 5, token)
    with pytest.raises(InvalidLogToken):
        log.page(DAY, "merge", 5, "not-a-token")
