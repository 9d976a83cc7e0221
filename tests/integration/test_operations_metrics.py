"""Every alarm and dashboard widget names a metric the code really emits.

The functions run in-process under moto through every path that emits a metric (stored, duplicate, refused
and failed touchpoints on every channel, throttled KMS and DynamoDB calls, the classifier, the reclassifier,
an erasure and the hourly check of erasure deadlines); their Embedded Metric Format output is collected and
compared with the alarms and widgets of the template as CloudFormation receives it. AWS service metrics are
checked against AWS_METRICS instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests import factories
from tests.cloudformation import transformed
from tests.integration.compliance_helpers import drain, erase, status
from tests.integration.test_classifier_stream import Pipeline
from tests.integration.test_token_secret_rotation import rotation
from tests.people import person
from tests.template_metrics import (
    MetricReference,
    alarm_metrics,
    emitted_metrics,
    resolve,
    resources_of_type,
    widget_metrics,
)
from touchpoints.adapters import aws
from touchpoints.adapters.token_rotation_store import CloudWatchRotationMetrics
from touchpoints.trust import load_trust_policy
from touchpoints.wiring import container

# The AWS service metrics the template may name: dimension keys as AWS publishes them, and the kind of
# resource each dimension must name (AWS docs: Lambda, API Gateway "detailed metrics", SQS, DynamoDB).
AWS_METRICS: dict[tuple[str, str], dict[str, str]] = {
    ("AWS/Lambda", "Duration"): {"FunctionName": "AWS::Lambda::Function"},
    ("AWS/Lambda", "IteratorAge"): {"FunctionName": "AWS::Lambda::Function"},
    ("AWS/ApiGateway", "5XXError"): {"ApiName": "api", "Stage": "stage", "Resource": "route", "Method": "method"},
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): {"QueueName": "AWS::SQS::Queue"},
    ("AWS/DynamoDB", "ReadThrottleEvents"): {"TableName": "AWS::DynamoDB::Table"},
    ("AWS/DynamoDB", "WriteThrottleEvents"): {"TableName": "AWS::DynamoDB::Table"},
}


@pytest.fixture
def pipeline(lambdas: Any, local_aws: Any) -> Pipeline:
    return Pipeline(lambdas, local_aws)


def run_every_emitting_path(pipeline: Pipeline, faults: Any) -> None:
    lambdas = pipeline.lambdas
    for n, (channel, payload) in enumerate(factories.CHANNEL_PAYLOADS.items(), start=400):
        body = payload(person(n))
        assert lambdas.post(channel, body)[0] == 200  # stored
        # a public channel's answer does not say whether it had the touchpoint already: the metric still counts it
        answer = "accepted" if load_trust_policy().is_public(channel) else "duplicate"
        assert lambdas.post(channel, body)[1]["results"][0]["status"] == answer
        assert lambdas.post(channel, {"touchpoints": []})[0] == 422  # refused: invalid_touchpoint
        wrong_key = next(key for other, key in factories.CHANNEL_API_KEYS.items() if other != channel)
        assert lambdas.post(channel, body, api_key=wrong_key)[0] == 403  # refused: forbidden

    container.reset()  # a new container: it unwraps the active branch key first
    faults.fail("kms", "Decrypt", "ThrottlingException", times=1)
    faults.fail("dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException", times=1)
    assert lambdas.post("web", factories.web(person(420)))[0] == 200  # both throttles retried by the SDK
    faults.clear()
    faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", status=500)
    assert lambdas.post("web", factories.web(person(421)))[0] == 503  # failed: storage_unavailable
    faults.clear()

    pipeline.pump()  # the classifier: every new profile changes state
    assert lambdas.post("web", factories.web(person(400), "page_view"))[0] == 200
    pipeline.pump()  # the same person again: refreshed
    sweep = lambdas.invoke("ReclassifierFunction", factories.load_event("reclassifier-daily.json"))
    assert sweep["complete"] is True

    code, accepted = erase(lambdas, {"rfc": person(401).rfc})
    assert code == 202, accepted
    check = lambdas.invoke("ErasureDeadlineCheckFunction", factories.load_event("erasure-deadline-check-hourly.json"))
    assert check["open"] == 1
    drain(lambdas)
    assert status(lambdas, accepted["request_id"])["state"] == "completed"

    # A tokenization secret rotation, as `keys token-secret start` and `run` make it: the functions see it open,
    # the move job reports what it scanned (PutMetricData, read back from CloudWatch below)
    job = rotation(lambdas, metrics=CloudWatchRotationMetrics(aws.session().client("cloudwatch")))
    job.start(propagation=timedelta(0))
    container.reset()
    assert lambdas.post("web", factories.web(person(430)))[0] == 200
    job.run()


def put_metrics() -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric, dimensions) of every metric sent to CloudWatch with PutMetricData (the operator's jobs)."""
    listed = aws.session().client("cloudwatch").list_metrics()["Metrics"]
    return {
        (m["Namespace"], m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
        for m in listed
    }


def check_aws_metric(template: dict[str, Any], metric: MetricReference) -> list[str]:
    expected = AWS_METRICS.get((metric.namespace, metric.name))
    if expected is None:
        return [f"{metric.where}: {metric.namespace} {metric.name} is not in AWS_METRICS"]
    if metric.keys != set(expected):
        return [f"{metric.where}: {metric.name} has dimensions {sorted(expected)}, not {sorted(metric.keys)}"]
    # An API's ApiName is its Name, or its title when it has none; each API has its own routes.
    apis = {
        str(resolve(template, api["Properties"].get("Name", api["Properties"]["Body"]["info"]["title"]))): api[
            "Properties"
        ]["Body"]
        for api in resources_of_type(template, "AWS::ApiGateway::RestApi").values()
    }
    api = apis.get(str(metric.values.get("ApiName")), next(iter(apis.values())))
    routes = {(path, method.upper()) for path, methods in api["paths"].items() for method in methods}
    problems = []
    values = metric.values
    for key, kind in expected.items():
        value = str(values[key])
        if kind == "api":
            ok = value in apis
        elif kind == "stage":
            stage = next(iter(resources_of_type(template, "AWS::ApiGateway::Stage").values()))
            ok = value == resolve(template, stage["Properties"]["StageName"])
        elif kind == "route":
            ok = (values["Resource"], values["Method"]) in routes
        elif kind == "method":
            continue  # checked with its route
        else:
            logical = value.strip("<>").split(".")[0]
            ok = template["Resources"].get(logical, {}).get("Type") == kind
        if not ok:
            problems.append(f"{metric.where}: {key}={value} names no {kind} of the stack")
    return problems


def check_own_metric(metric: MetricReference, emitted: set[Any]) -> list[str]:
    same_name = {dims for namespace, name, dims in emitted if (namespace, name) == (metric.namespace, metric.name)}
    if any(value is None for value in metric.values.values()):  # a SEARCH: dimension keys only
        found = any({k for k, _ in dims} == metric.keys for dims in same_name)
    else:
        found = metric.dimensions in same_name
    if found:
        return []
    named = f"{metric.namespace} {metric.name} {metric.dimensions}"
    return [f"{metric.where}: {named} is never emitted; with these dimensions it is: {same_name}"]


def test_every_alarm_and_dashboard_widget_names_a_metric_the_code_emits(pipeline, faults, capsys):
    # Given the code run through every path that emits a metric
    run_every_emitting_path(pipeline, faults)
    emitted = emitted_metrics(capsys.readouterr().out) | put_metrics()
    # and the template as CloudFormation receives it
    template = transformed()
    named = [*alarm_metrics(template), *widget_metrics(template)]
    assert len(named) > 50

    # Then every metric an alarm or a widget names exists
    problems = []
    for metric in named:
        if metric.namespace.startswith("AWS/"):
            problems += check_aws_metric(template, metric)
        else:
            problems += check_own_metric(metric, emitted)
    assert not problems, "\n".join(problems)
