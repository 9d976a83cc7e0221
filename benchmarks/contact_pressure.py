"""The contact-pressure report from counters (issue 23): its requests and read units at two numbers of people
contacted (the ratio should be ~1: the report reads the pressure items of 30 days, whoever was contacted), and the
hottest key of the counters' writes at 3,000 contacts/s."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3

from benchmarks.calls import item_size, read_units, write_units
from benchmarks.harness import fmt

PEAK_CONTACTS_PER_SECOND = 3_000
CONTACTS_PER_REQUEST = 25  # POST /v1/{channel}/contacts takes up to 25
HOT_KEY_LIMIT_WCU = 500


class _ReportMeter:
    """The report's DynamoDB requests and the read units they cost (priced from the items moto returns)."""

    def __init__(self, client: Any) -> None:
        self.requests = 0
        self.read_units = 0.0
        client.meta.events.register("after-call.dynamodb", self._record)

    def _record(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests += 1
        if model.name == "BatchGetItem":
            items = [i for page in parsed.get("Responses", {}).values() for i in page]
            self.read_units += sum(read_units(item_size(i), consistent=False) for i in items)
        elif model.name == "Query":
            size = sum(item_size(i) for i in parsed.get("Items", []))
            self.read_units += read_units(size, consistent=False)


def _record_contacts(store: Any, people: int, today: date, rng: random.Random) -> None:
    """Each person gets 1-4 contacts on days of the last 30, recorded on the day sent in requests of 25."""
    from touchpoints.contact.decide import ContactEntry
    from touchpoints.contact.pressure import ContactTally

    by_day: dict[date, list[int]] = defaultdict(list)
    for who in range(people):
        for _ in range(rng.randint(1, 4)):
            by_day[today - timedelta(days=rng.randrange(30))].append(who)
    histories: dict[int, list[ContactEntry]] = defaultdict(list)
    for day in sorted(by_day):
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15)
        recipients = by_day[day]
        for start in range(0, len(recipients), CONTACTS_PER_REQUEST):
            tally = ContactTally(day)
            for who in recipients[start : start + CONTACTS_PER_REQUEST]:
                entry = ContactEntry(at, "email", "marketing", "buen-fin", kind="email", program="loyalty")
                tally.add(histories[who], entry)
                histories[who].append(entry)
            store.count_contacts(tally)


def _one(people: int) -> dict[str, Any]:
    from moto import mock_aws

    from local_runner.emulator import template as cfn
    from local_runner.emulator.provision import provision
    from touchpoints.adapters.contact_store import DynamoContactReports, DynamoContactStore
    from touchpoints.contact.policy import load_contact_policy
    from touchpoints.contact.report import contact_pressure
    from touchpoints.items import contact as contact_item

    with mock_aws():
        provisioned = provision(cfn.load(), boto3.client)  # type: ignore[arg-type]
        table = provisioned.tables["ProfileTable"]
        db = boto3.client("dynamodb", region_name="us-east-1")
        store = DynamoContactStore(db, table, None)  # type: ignore[arg-type]  # count_contacts needs no profiles
        today = datetime.now(UTC).date()
        _record_contacts(store, people, today, random.Random(people))
        reader = boto3.client("dynamodb", region_name="us-east-1")
        meter = _ReportMeter(reader)
        report = contact_pressure(DynamoContactReports(reader, table), load_contact_policy())
        pressure_items = [
            i
            for i in db.scan(TableName=table)["Items"]
            if i[contact_item.PK]["S"].startswith("CONTACT_PRESSURE#")
            and i[contact_item.PRESSURE_DAY]["S"] == today.isoformat()
        ]
    largest = max((item_size(i) for i in pressure_items), default=0)
    return {
        "people": people,
        "people_contacted_30_days": report["people_contacted"]["last_30_days"],
        "report_requests": meter.requests,
        "report_read_units": meter.read_units,
        "largest_pressure_item_bytes": largest,
    }


def measure(small: int = 100, large: int = 2_000) -> dict[str, Any]:
    from touchpoints.items import contact as contact_item

    runs = [_one(small), _one(large)]
    assert runs[1]["people_contacted_30_days"] == large, runs
    requests_per_second = PEAK_CONTACTS_PER_SECOND / CONTACTS_PER_REQUEST
    per_key_updates = requests_per_second / contact_item.COUNTER_SHARDS
    # Each request updates its shard's pressure item of the day twice (the marked update, the marker's removal),
    # each priced on the whole item.
    item_wcu = write_units(runs[1]["largest_pressure_item_bytes"], transactional=False)
    hot = per_key_updates * 2 * item_wcu
    return {
        "runs": runs,
        "read_units_ratio": runs[1]["report_read_units"] / max(runs[0]["report_read_units"], 0.5),
        "requests_ratio": runs[1]["report_requests"] / runs[0]["report_requests"],
        "hot_key": {
            "key": "CONTACT_PRESSURE#<today>#<shard> (ProfileTable)",
            "shards": contact_item.COUNTER_SHARDS,
            "updates_per_second": per_key_updates * 2,
            "wcu_per_second": hot,
            "limit": HOT_KEY_LIMIT_WCU,
        },
        "met": hot <= HOT_KEY_LIMIT_WCU and runs[1]["report_requests"] == runs[0]["report_requests"],
    }


def rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    small, large = m["runs"]
    hot = m["hot_key"]
    met = "yes" if m["met"] else "NO"
    return [
        (
            f"contact-pressure report, {large['people']:,} people vs {small['people']:,}",
            f"{large['report_requests']} vs {small['report_requests']} requests",
            f"{fmt(large['report_read_units'])} vs {fmt(small['report_read_units'])} RCU",
            f"ratio {fmt(m['read_units_ratio'])}",
            "ratio ~1",
            met,
        ),
        (
            f"contact counters' hottest key at {PEAK_CONTACTS_PER_SECOND:,} contacts/s",
            f"{fmt(hot['wcu_per_second'])} WCU/s",
            hot["key"],
            f"{hot['shards']} shards",
            f"<= {hot['limit']}",
            met,
        ),
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
