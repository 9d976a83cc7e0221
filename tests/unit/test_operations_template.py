"""Day-one operations, read from the template as CloudFormation receives it: logs that expire, an access log
without personal data, an alarm for every route, dead-letter queue and stream, a dashboard that covers every
function and state. (That the metrics named exist: tests/integration/test_operations_metrics.py; that
nothing forms a dependency cycle: tests/integration/test_template_deployable.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.cloudformation import transformed
from tests.template_metrics import alarm_metrics, resolve, resources_of_type, widget_metrics
from touchpoints.classification.rules import State

# $context variables the access log may carry: ids, times, the route template, outcome and latency, and who
# called (an API key id, or the IAM principal of a compliance operator, as the audit trail records it).
# Never the source IP, user agent, the path with its values, the query string or a body.
ACCESS_LOG_VARIABLES = {
    "requestId",
    "requestTimeEpoch",
    "resourcePath",
    "httpMethod",
    "status",
    "responseLatency",
    "integrationLatency",
    "identity.apiKeyId",
    "identity.userArn",
    "error.responseType",
    "xrayTraceId",
}
NOTIFY_TOPIC = {"Fn::If": ["NotifiesAlarmTopic", [{"Ref": "AlarmTopicArn"}], []]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return transformed()


def test_every_function_logs_to_its_own_group_which_expires(template):
    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    functions = resources_of_type(template, "AWS::Lambda::Function")
    used = []
    for name, function in functions.items():
        # A group the function is given exists before it: Lambda never creates a never-expiring one of its own.
        target = function["Properties"].get("LoggingConfig", {}).get("LogGroup", {})
        assert target.get("Ref") in groups, f"{name} logs to no group of the stack"
        used.append(target["Ref"])
    assert len(set(used)) == len(functions) == 16


@pytest.mark.parametrize("stage_name", ["TouchpointApiStage", "SdkApiStage"])
def test_the_api_access_log_expires_and_carries_no_personal_data(template, stage_name):
    stage = resources_of_type(template, "AWS::ApiGateway::Stage")[stage_name]["Properties"]
    setting = stage["AccessLogSetting"]
    group = setting["DestinationArn"]["Fn::GetAtt"][0]
    assert template["Resources"][group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    line = json.loads(setting["Format"])  # one JSON object per request
    variables = {v for value in line.values() for v in re.findall(r"\$context\.([\w.]+)", value)}
    assert variables == ACCESS_LOG_VARIABLES
    assert all(value.count("$") == 1 for value in line.values())
    # Per-route metrics for the 5xx alarms; no execution log, which would carry bodies.
    for method in stage["MethodSettings"]:
        assert method["MetricsEnabled"] is True and method["DataTraceEnabled"] is False
        assert method.get("LoggingLevel", "OFF") == "OFF"


def test_every_route_has_a_5xx_rate_alarm(template):
    routes = {
        (
            resolve(template, api["Properties"].get("Name", api["Properties"]["Body"]["info"]["title"])),
            path,
            method.upper(),
        )
        for api in resources_of_type(template, "AWS::ApiGateway::RestApi").values()
        for path, methods in api["Properties"]["Body"]["paths"].items()
        for method in methods
    }
    alarmed = {
        (m.values["ApiName"], m.values["Resource"], m.values["Method"])
        for m in alarm_metrics(template)
        if (m.namespace, m.name) == ("AWS/ApiGateway", "5XXError")
    }
    assert len(routes) >= 30
    assert alarmed == routes


def test_every_dead_letter_queue_and_stream_consumer_has_an_alarm(template):
    resources = template["Resources"]
    dead_letter = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in resources_of_type(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    streamed = set()
    for mapping in resources_of_type(template, "AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        on_failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if on_failure:
            dead_letter.add(on_failure["Fn::GetAtt"][0])
        if "StartingPosition" in props:  # a stream, whose consumer can fall behind
            streamed.add(props["FunctionName"]["Ref"])
    alarms = list(alarm_metrics(template))
    watched_queues = {
        m.values["QueueName"].strip("<>").removesuffix(".QueueName")
        for m in alarms
        if m.name == "ApproximateNumberOfMessagesVisible"
    }
    watched_ages = {m.values["FunctionName"].strip("<>") for m in alarms if m.name == "IteratorAge"}
    assert (
        dead_letter == watched_queues == {"ClassifierDeadLetterQueue", "ErasureDeadLetterQueue", "MergeDeadLetterQueue"}
    )
    assert streamed == watched_ages == {"ClassifierFunction", "MergeWorkerFunction"}
    assert all(resources[q]["Type"] == "AWS::SQS::Queue" for q in dead_letter)


def test_every_alarm_notifies_the_topic_when_one_is_given(template):
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    assert template["Conditions"]["NotifiesAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == NOTIFY_TOPIC, name
        assert alarm["Properties"]["OKActions"] == NOTIFY_TOPIC, name
        assert "Condition" not in alarm, f"{name}: alarms exist even without a topic"
    names = {m.name for m in alarm_metrics(template)}
    assert {"DependencyThrottles", "ErasuresNearDeadline", "IteratorAge", "WriteThrottleEvents"} <= names


def test_the_dashboard_covers_every_function_and_every_state(template):
    functions = set(resources_of_type(template, "AWS::Lambda::Function"))
    widgets = list(widget_metrics(template))
    for percentile in ("p50", "p99"):
        durations = {
            m.values["FunctionName"].strip("<>") for m in widgets if m.name == "Duration" and percentile in m.where
        }
        assert durations == functions, percentile
    assert {m.values["state"] for m in widgets if m.name == "ProfilesInState"} == {s.value for s in State}
    per_channel = {m.name for m in widgets if "channel" in m.keys}
    assert per_channel == {"TouchpointsStored", "TouchpointsDuplicate", "RequestsRefused", "TouchpointsFailed"}
