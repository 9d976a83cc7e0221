"""Issue 23's traffic plan, read from the template as CloudFormation receives it (tests.cloudformation): 300
touchpoints/s every day, 3,000/s on Buen Fin. The channels' usage plans, the stages' throttles, the classifier's
stream parallelism, the merge worker's split concurrency, the tables' warm throughput and the API functions'
timeouts against the SDK's own retry budget (docs/operators.md, "Sizing", derives the numbers)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff

from tests.cloudformation import PSEUDO_PARAMETERS, sam_template, transformed
from touchpoints.adapters.aws import S3_CONFIG, SDK_CONFIG
from touchpoints.model import Channel

NORMAL_DAY = 300  # touchpoints/s, every day
PEAK = 3_000  # touchpoints/s, Buen Fin
API_GATEWAY_INTEGRATION_TIMEOUT = 29  # seconds, REST APIs' default (and the most a caller waits)
# The parameters docs/operators.md ("Sizing") tells an operator to set for a 3,000/s day, unbatched.
PEAK_PARAMETERS = {
    "WebThrottle": "3000/6000",
    "AppThrottle": "3000/6000",
    "EmailThrottle": "3000/6000",
    "SmsThrottle": "3000/6000",
    "PushThrottle": "3000/6000",
    "ContactCenterThrottle": "3000/6000",
    "StoreThrottle": "3000/6000",
    "StageThrottle": "4000/5000",
    "MergeWorkerReservedConcurrency": "60",
    "ProfileTableWarmWriteUnits": "48000",
    "IdentityIndexTableWarmWriteUnits": "24000",
    "KeyVaultTableWarmWriteUnits": "6000",
    "StateCounterTableWarmWriteUnits": "12000",
}
# A new on-demand table serves 12,000 reads/s and 4,000 writes/s at once; a partition (≈ a stream shard) serves
# up to 3,000 reads/s and 1,000 writes/s.
NEW_TABLE_WARM = {"ReadUnitsPerSecond": 12_000, "WriteUnitsPerSecond": 4_000}
PARTITION = {"ReadUnitsPerSecond": 3_000, "WriteUnitsPerSecond": 1_000}


def logical_name(channel: Channel) -> str:
    """contact-center -> ContactCenter, as the template names a channel's resources."""
    return "".join(part.title() for part in channel.value.split("-"))


PLAN_OF_CHANNEL = {channel: f"{logical_name(channel)}UsagePlan" for channel in Channel}
# The on-demand tables every touchpoint writes (directly, or through the classifier: the state counters).
TABLES = ("ProfileTable", "IdentityIndexTable", "KeyVaultTable", "StateCounterTable")


# ------------------------------------------------------------------ CloudFormation, evaluated


class _NoValue:
    pass


NO_VALUE = _NoValue()


class Stack:
    """The transformed template with parameter values applied as CloudFormation applies them: Ref, Fn::Select,
    Fn::Split, Fn::If and the Conditions; a property whose value is AWS::NoValue is left out."""

    def __init__(self, parameters: Mapping[str, str] | None = None) -> None:
        self.parameters = dict(parameters or {})
        self.template = _transformed(tuple(sorted(self.parameters.items())))
        declared = self.template["Parameters"]
        unknown = set(self.parameters) - set(declared)
        assert not unknown, f"no such parameters: {unknown}"
        self.values: dict[str, Any] = {
            name: str(self.parameters.get(name, spec.get("Default", ""))) for name, spec in declared.items()
        }

    def resource(self, logical_id: str) -> dict[str, Any]:
        return self.template["Resources"][logical_id]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.evaluate(self.resource(logical_id).get("Properties", {}))

    def condition(self, name: str) -> bool:
        return bool(self.evaluate(self.template["Conditions"][name]))

    def evaluate(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.evaluate(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                if argument == "AWS::NoValue":
                    return NO_VALUE
                if argument in self.values:
                    return self.values[argument]
                if argument in PSEUDO_PARAMETERS:
                    return PSEUDO_PARAMETERS[argument]
                return {"Ref": argument}  # a resource
            if key == "Fn::Select":
                index, items = argument
                return self.evaluate(items)[int(self.evaluate(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.evaluate(text)).split(separator)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.evaluate(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.evaluate(v) for v in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.evaluate(argument[0])
            if key == "Fn::Or":
                return any(self.evaluate(v) for v in argument)
            if key == "Fn::And":
                return all(self.evaluate(v) for v in argument)
            if key == "Condition":
                return self.condition(argument)
        evaluated = {k: self.evaluate(v) for k, v in value.items()}
        return {k: v for k, v in evaluated.items() if v is not NO_VALUE}

    def event_sources(self, function: str) -> dict[str, dict[str, Any]]:
        """The function's event source mappings by source kind ("stream" or "queue"), evaluated."""
        found: dict[str, dict[str, Any]] = {}
        for name, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::EventSourceMapping":
                continue
            props = resource["Properties"]
            if props["FunctionName"] != {"Ref": function}:
                continue
            source = props["EventSourceArn"]["Fn::GetAtt"]
            kind = "stream" if source[1] == "StreamArn" else "queue"
            assert kind not in found, f"{function} has two {kind} sources"
            found[kind] = self.evaluate(props) | {"LogicalId": name}
        return found


@cache
def _transformed(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return transformed(dict(parameters))


def throttle(settings: Mapping[str, Any], rate: str = "RateLimit", burst: str = "BurstLimit") -> tuple[float, float]:
    return float(settings[rate]), float(settings[burst])


def stage_throttles(stack: Stack) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(stage, resource path, method) -> (rate, burst) of every MethodSettings entry of both stages."""
    found = {}
    for name, resource in stack.template["Resources"].items():
        if resource["Type"] != "AWS::ApiGateway::Stage":
            continue
        for method in stack.properties(name)["MethodSettings"]:
            key = (name, method["ResourcePath"], method["HttpMethod"])
            found[key] = throttle(method, "ThrottlingRateLimit", "ThrottlingBurstLimit")
    return found


# ------------------------------------------------------------------ A. usage plans and stage throttles


def test_every_channel_has_a_plan_without_a_quota_by_default_at_its_own_parameter():
    stack = Stack()
    for channel, plan in PLAN_OF_CHANNEL.items():
        props = stack.properties(plan)
        assert "Quota" not in props, f"{plan}: a quota by default cuts the channel off mid-month"
        parameter = plan.removesuffix("UsagePlan") + "Throttle"
        assert stack.template["Parameters"][parameter]["Default"] == "300/600", channel
        assert throttle(props["Throttle"]) == (300, 600), plan
    assert stack.template["Parameters"]["ChannelMonthlyQuota"]["Default"] == ""
    assert not stack.condition("HasChannelQuota")


@pytest.mark.parametrize("quota", ["0", ""])
def test_no_quota_when_the_quota_parameter_is_zero_or_empty(quota):
    stack = Stack({"ChannelMonthlyQuota": quota})
    assert all("Quota" not in stack.properties(plan) for plan in PLAN_OF_CHANNEL.values())


def test_a_monthly_quota_parameter_puts_the_quota_on_every_channel_plan():
    stack = Stack({"ChannelMonthlyQuota": "2000000000"})
    for plan in PLAN_OF_CHANNEL.values():
        assert stack.properties(plan)["Quota"] == {"Limit": "2000000000", "Period": "MONTH"}, plan


def test_an_operator_raises_one_channel_alone():
    stack = Stack({"StoreThrottle": "1500/3000"})
    for channel, plan in PLAN_OF_CHANNEL.items():
        expected = (1500, 3000) if channel is Channel.STORE else (300, 600)
        assert throttle(stack.properties(plan)["Throttle"]) == expected, plan


def test_the_default_limits_carry_a_normal_day_on_any_one_channel_and_route():
    """300 touchpoints/s unbatched is 300 requests/s: each channel's plan, and each route of each stage (API Gateway
    applies a stage's throttle to every method on its own), carries all of it, with a burst at least the rate."""
    stack = Stack()
    for plan in PLAN_OF_CHANNEL.values():
        rate, burst = throttle(stack.properties(plan)["Throttle"])
        assert rate >= NORMAL_DAY and burst >= rate, plan
    plan_rates = [throttle(stack.properties(plan)["Throttle"])[0] for plan in PLAN_OF_CHANNEL.values()]
    settings = stage_throttles(stack)
    assert {(stage, path) for stage, path, _ in settings} >= {
        ("TouchpointApiStage", "/*"),
        ("SdkApiStage", "/*"),
        ("SdkApiStage", "/~1sdk~1web~1browser~1{call}"),
    }
    for (stage, path, method), (rate, burst) in settings.items():
        assert rate >= NORMAL_DAY and burst >= rate, (stage, path, method)
        if path == "/*":  # a route's stage limit never cuts a channel below its own plan
            assert rate >= max(plan_rates), (stage, path, method)
    assert stack.template["Parameters"]["StageThrottle"]["Default"] == "1000/2000"


def test_the_browser_routes_are_bounded_by_the_web_channel_limits():
    stack = Stack({"WebThrottle": "900/1800"})
    browser = stage_throttles(stack)[("SdkApiStage", "/~1sdk~1web~1browser~1{call}", "POST")]
    assert browser == throttle(stack.properties("WebUsagePlan")["Throttle"]) == (900, 1800)


def test_the_peak_parameters_carry_3000_touchpoints_a_second_on_any_one_channel():
    stack = Stack(PEAK_PARAMETERS)
    for plan in PLAN_OF_CHANNEL.values():
        assert throttle(stack.properties(plan)["Throttle"])[0] >= PEAK, plan
    for key, (rate, _) in stage_throttles(stack).items():
        assert rate >= PEAK, key


# ------------------------------------------------------------------ B. the classifier's stream


def test_the_classifier_reads_each_shard_with_the_parallelization_parameter():
    declared = Stack().template["Parameters"]["ClassifierParallelizationFactor"]
    assert declared["Default"] == 4
    assert declared["AllowedValues"] == list(range(1, 11))  # Lambda's range for DynamoDB streams
    assert Stack().event_sources("ClassifierFunction")["stream"]["ParallelizationFactor"] == "4"
    raised = Stack({"ClassifierParallelizationFactor": "10"}).event_sources("ClassifierFunction")
    assert raised["stream"]["ParallelizationFactor"] == "10"


def test_the_classifier_gathers_records_for_the_window_parameter():
    """Its counters are written once a batch: at many stream shards, a longer window keeps batches full."""
    declared = Stack().template["Parameters"]["ClassifierBatchingWindowSeconds"]
    assert (declared["Default"], declared["MinValue"], declared["MaxValue"]) == (1, 0, 300)  # Lambda's range
    assert Stack().event_sources("ClassifierFunction")["stream"]["MaximumBatchingWindowInSeconds"] == "1"
    longer = Stack({"ClassifierBatchingWindowSeconds": "30"}).event_sources("ClassifierFunction")
    assert longer["stream"]["MaximumBatchingWindowInSeconds"] == "30"


# ------------------------------------------------------------------ C. the merge worker's two triggers


def stream_shards(stack: Stack, table: str) -> int:
    """Open shards of a table's stream, about one per partition: what its warm throughput needs."""
    warm = NEW_TABLE_WARM | stack.properties(table).get("WarmThroughput", {})
    return max(math.ceil(int(warm[unit]) / PARTITION[unit]) for unit in PARTITION)


@pytest.mark.parametrize("parameters", [{}, PEAK_PARAMETERS], ids=["normal day", "peak"])
def test_the_merge_queue_never_takes_the_stream_triggers_room(parameters):
    stack = Stack(parameters)
    sources = stack.event_sources("MergeWorkerFunction")
    assert set(sources) == {"stream", "queue"}
    assert sources["stream"]["EventSourceArn"] == stack.evaluate({"Fn::GetAtt": ["ProfileTable", "StreamArn"]})
    queue_max = int(sources["queue"]["ScalingConfig"]["MaximumConcurrency"])
    assert queue_max >= 2  # Lambda's minimum
    reserved = int(stack.properties("MergeWorkerFunction")["ReservedConcurrentExecutions"])
    parallelization = int(sources["stream"].get("ParallelizationFactor", 1))
    needed = queue_max + stream_shards(stack, "ProfileTable") * parallelization
    assert reserved >= needed, f"reserved {reserved} < {queue_max} merges + the stream's shards x {parallelization}"


def test_the_merge_concurrency_parameters():
    declared = Stack().template["Parameters"]
    assert declared["MergeQueueMaxConcurrency"]["Default"] == 5
    assert declared["MergeQueueMaxConcurrency"]["MinValue"] == 2
    stack = Stack({"MergeQueueMaxConcurrency": "8", "MergeWorkerReservedConcurrency": "40"})
    assert stack.event_sources("MergeWorkerFunction")["queue"]["ScalingConfig"] == {"MaximumConcurrency": "8"}
    assert stack.properties("MergeWorkerFunction")["ReservedConcurrentExecutions"] == "40"


# ------------------------------------------------------------------ E. warm throughput


def test_no_table_is_pre_warmed_unless_told():
    stack = Stack()
    for table in TABLES:
        assert "WarmThroughput" not in stack.properties(table), table
        assert stack.properties(table)["BillingMode"] == "PAY_PER_REQUEST", table


@pytest.mark.parametrize("table", TABLES)
def test_an_operator_pre_warms_reads_writes_or_both(table):
    writes = Stack({f"{table}WarmWriteUnits": "40000"}).properties(table)["WarmThroughput"]
    assert writes == {"WriteUnitsPerSecond": "40000"}
    reads = Stack({f"{table}WarmReadUnits": "30000"}).properties(table)["WarmThroughput"]
    assert reads == {"ReadUnitsPerSecond": "30000"}
    both = Stack({f"{table}WarmReadUnits": "30000", f"{table}WarmWriteUnits": "40000"}).properties(table)
    assert both["WarmThroughput"] == {"ReadUnitsPerSecond": "30000", "WriteUnitsPerSecond": "40000"}


# ------------------------------------------------------------------ D. timeouts against the SDK's retries


def worst_case_seconds(config: Config) -> float:
    """The longest one SDK call can take with this botocore config: every attempt using its whole connect and read
    timeout, and the most standard-mode backoff before each retry (min(2^(n-1), 20) s after attempt n)."""
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    retries = session.client("dynamodb", config=config).meta.config.retries  # as botocore reads max_attempts
    assert retries["mode"] == "standard"
    attempts = int(retries["total_max_attempts"])
    cap, base = ExponentialBackoff._MAX_BACKOFF, ExponentialBackoff._BASE
    backoff = sum(min(base ** (attempt - 1), cap) for attempt in range(1, attempts))
    return float(attempts * (config.connect_timeout + config.read_timeout) + backoff)


def api_functions() -> list[str]:
    """Functions API Gateway invokes for a route (Api events)."""
    resources = sam_template()["Resources"]
    return sorted(
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any(event["Type"] == "Api" for event in resource["Properties"].get("Events", {}).values())
    )


def test_the_sdk_budget_is_what_the_code_configures():
    # 2 retries = 3 attempts of (2 s connect + 5 s read), then 1 and 2 s of backoff at most.
    assert worst_case_seconds(SDK_CONFIG) == 3 * (2 + 5) + 1 + 2 == 24


@pytest.mark.parametrize("function", api_functions())
def test_an_api_function_outlasts_one_sdk_call_and_stops_before_api_gateway(function):
    timeout = int(Stack().properties(function)["Timeout"])
    budget = worst_case_seconds(SDK_CONFIG)
    assert budget < timeout < API_GATEWAY_INTEGRATION_TIMEOUT, (function, budget, timeout)


def test_there_are_nine_api_functions():
    channels = {f"{logical_name(channel)}ChannelFunction" for channel in Channel}
    assert set(api_functions()) == channels | {"ProfileStateReportFunction", "ComplianceApiFunction"}


def test_an_api_function_that_writes_to_s3_outlasts_one_s3_call():
    # A large export's PutObject, every attempt at its whole budget, still ends before the route's function does
    timeout = int(Stack().properties("ComplianceApiFunction")["Timeout"])
    assert worst_case_seconds(S3_CONFIG) < timeout < API_GATEWAY_INTEGRATION_TIMEOUT


# ------------------------------------------------------------------ F. arm64


def test_every_function_and_the_layer_run_on_arm64():
    stack = Stack()
    for name, resource in stack.template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            assert stack.properties(name)["Architectures"] == ["arm64"], name
    layer = sam_template()["Resources"]["PrivacyCoreLayer"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"  # sam build installs aarch64 wheels
