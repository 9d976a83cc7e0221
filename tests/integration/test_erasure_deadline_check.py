"""The hourly deadline check: open erasures near or past their legal deadline, as CloudWatch metrics (EMF)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from tests import factories
from tests.integration.compliance_helpers import call, drain, erase
from tests.people import person

CHECK = "ErasureDeadlineCheckFunction"


def received_days_ago(aws: Any, request_id: str, days: int) -> None:
    """The request as if it had been received `days` ago: its times, deadline and queue position moved back."""
    table = aws.table("ComplianceTable")
    key = {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}
    item = aws.dynamodb.get_item(TableName=table, Key=key)["Item"]
    received = datetime.fromisoformat(item["received_at"]["S"]) - timedelta(days=days)
    deadline = date.fromisoformat(item["deadline"]["S"]) - timedelta(days=days)
    item["received_at"] = {"S": received.isoformat()}
    item["deadline"] = {"S": deadline.isoformat()}
    item["queue_due"] = {"S": f"{deadline.isoformat()}#{received.isoformat()}#{request_id}"}
    aws.dynamodb.put_item(TableName=table, Item=item)


def emf(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_open_erasures_near_their_deadline_are_counted_as_metrics(lambdas, capsys):
    # Given an erasure already carried out, and an export (neither is an open erasure)
    done = person(1500)
    lambdas.post("sms", factories.sms(done))
    assert erase(lambdas, {"phone": done.phone})[0] == 202
    drain(lambdas)
    exported = person(1501)
    lambdas.post("web", factories.web(exported))
    case = {"regulation": "gdpr", "case_reference": "CASE-2026-1501"}
    assert (
        call(lambdas, "POST", "exports", {"subject": {"email": exported.email}, **case}, personal_answer=True)[0] == 200
    )
    # and three open GDPR erasures (30 days): received today, 25 days ago (5 left) and 40 days ago (10 overdue)
    ages = {}
    for n, days in [(1502, 0), (1503, 25), (1504, 40)]:
        p = person(n)
        lambdas.post("sms", factories.sms(p))
        code, accepted = erase(lambdas, {"phone": p.phone})
        assert code == 202
        ages[accepted["request_id"]] = days
        if days:
            received_days_ago(lambdas.aws, accepted["request_id"], days)
    capsys.readouterr()

    # When the hourly check runs (its scheduled event)
    answer = lambdas.invoke(CHECK, factories.load_event("erasure-deadline-check-hourly.json"))

    # Then two are near the deadline (the policy warns 7 days before; overdue counts too), three are open
    assert answer["near_deadline"] == 2 and answer["open"] == 3
    assert answer["by_days_left"] == {"overdue": 1, "0-7": 1, "8-14": 0, "15-30": 1, "31+": 0}
    # and CloudWatch gets them as metrics in the service's namespace, without any request id or person
    printed = capsys.readouterr().out
    metrics = emf(printed)
    near = [m for m in metrics if "ErasuresNearDeadline" in m]
    assert len(near) == 1 and near[0]["ErasuresNearDeadline"] == [2.0]
    directive = near[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "CustomerTouchpoints" and directive["Dimensions"] == [["service"]]
    assert directive["Metrics"] == [{"Name": "ErasuresNearDeadline", "Unit": "Count"}]
    open_sets = [m for m in metrics if "OpenErasures" in m]
    by_bucket = {m["days_left"]: m["OpenErasures"] for m in open_sets}
    assert by_bucket == {"overdue": [1.0], "0-7": [1.0], "8-14": [0.0], "15-30": [1.0], "31+": [0.0]}
    for m in open_sets:
        assert m["service"] == "touchpoint-ingestion"
        assert sorted(m["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["days_left", "service"]
    assert not any(request_id in printed for request_id in ages)
