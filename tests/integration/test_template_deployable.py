"""Given template.yaml transformed as `sam deploy` has CloudFormation transform it, the stack can
be created: no dependency cycle, no reference to something that does not exist, and no IAM grant
on a resource outside the stack except the documented ones below."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from tests.cloudformation import PSEUDO_PARAMETERS, references, transformed
from touchpoints.model import Channel

CHANNELS = [channel.value for channel in Channel]

# AWS managed policies SAM attaches by itself; their statements are on "*". Each is allowed for a reason.
MANAGED_POLICIES_ALLOWED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (
        "SAM gives every function its logs: logs:CreateLogGroup/CreateLogStream/PutLogEvents"
    ),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": (
        "Tracing: Active; X-Ray's write actions have no resource-level permissions (only '*')"
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole": (
        "SAM adds it for a DynamoDB event: the event source mapping reads the stream with the function's role"
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": (
        "SAM adds it for an SQS event: the event source mapping receives and deletes with the function's role"
    ),
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs": (
        "ApiGatewayLoggingRole: API Gateway's account-wide role writes every API's access logs, on any log group"
    ),
}
# (role or policy logical id, statement Sid) of inline statements allowed outside the stack, with why.
STATEMENTS_OUTSIDE_THE_STACK_ALLOWED: dict[tuple[str, str], str] = {}
IAM_POLICY_DOCUMENTS = {
    "AWS::IAM::Policy": "PolicyDocument",
    "AWS::IAM::RolePolicy": "PolicyDocument",
    "AWS::IAM::ManagedPolicy": "PolicyDocument",
}
# Resource attributes CloudFormation resolves and orders creation by.
_DEPENDENCY_ATTRIBUTES = ("Properties", "DependsOn")


@cache
def template() -> dict[str, Any]:
    return transformed()


def dependencies(resource: Mapping[str, Any], resources: Mapping[str, Any]) -> set[str]:
    """The resources CloudFormation must create before this one."""
    depends_on = resource.get("DependsOn", [])
    named = {depends_on} if isinstance(depends_on, str) else set(depends_on)
    named |= {target for target, _ in references(resource.get("Properties", {}))}
    return {name for name in named if name in resources}


def dependency_graph(resources: Mapping[str, Any]) -> dict[str, set[str]]:
    return {name: dependencies(resource, resources) for name, resource in resources.items()}


def strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one resource (or a resource that needs itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_cycle_through(graph: Mapping[str, set[str]], start: str) -> list[str]:
    parents: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph[node]):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if successor not in parents:
                parents[successor] = node
                queue.append(successor)
    return []


def cycles(graph: Mapping[str, set[str]]) -> list[str]:
    """One shortest cycle through each resource of each cycle, as 'A → B → A', without repeats."""
    found: dict[frozenset[str], str] = {}
    for component in strongly_connected(graph):
        inside = {node: graph[node] & set(component) for node in component}
        for node in component:
            cycle = shortest_cycle_through(inside, node)
            found.setdefault(frozenset(cycle), " → ".join(cycle))
    return sorted(found.values())


def test_the_transform_keeps_every_resource_of_the_template():
    resources = template()["Resources"]
    assert {"TouchpointApi", "TouchpointApiStage", "ComplianceOperatorRole", "WebChannelFunctionRole"} <= set(resources)
    assert not [name for name, r in resources.items() if r["Type"].startswith("AWS::Serverless::")]


def test_the_resource_graph_has_no_dependency_cycle():
    found = cycles(dependency_graph(template()["Resources"]))
    assert not found, "CloudFormation refuses the stack: Circular dependency between resources:\n  " + "\n  ".join(
        found
    )


def test_the_cycle_finder_sees_a_cycle_through_depends_on_and_sub():
    resources = {
        "Api": {"Properties": {"Body": {"Fn::Sub": ["${Fn}", {"Fn": {"Fn::GetAtt": ["Function", "Arn"]}}]}}},
        "Function": {"Properties": {"Key": {"Fn::Sub": "${Key.Id}"}}},
        "Key": {"DependsOn": ["Stage"]},
        "Stage": {"Properties": {"RestApiId": {"Ref": "Api"}}},
        "Loner": {"Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-${!Literal}"}}},
    }
    assert cycles(dependency_graph(resources)) == ["Api → Function → Key → Stage → Api"]


def _unknown(fragment: Any, resources: Iterable[str], parameters: Iterable[str]) -> list[str]:
    known = set(resources) | set(parameters) | set(PSEUDO_PARAMETERS)
    names_resources_only = {"Fn::GetAtt"}
    return sorted(
        f"{intrinsic} {target}"
        for target, intrinsic in references(fragment)
        if target not in known or (intrinsic in names_resources_only and target not in resources)
    )


def test_every_reference_names_a_resource_parameter_or_pseudo_parameter():
    cfn = template()
    resources, parameters = cfn["Resources"], cfn.get("Parameters", {})
    unknown = {
        name: missing
        for name, resource in {**resources, **{f"Outputs.{k}": v for k, v in cfn.get("Outputs", {}).items()}}.items()
        if (missing := _unknown(resource, resources, parameters))
    }
    unknown_depends_on = {
        name: sorted(set(depends_on) - set(resources))
        for name, resource in resources.items()
        if (depends_on := _as_list(resource.get("DependsOn", []))) and set(depends_on) - set(resources)
    }
    assert unknown == {}, f"references to nothing in the stack: {unknown}"
    assert unknown_depends_on == {}, f"DependsOn names no resource: {unknown_depends_on}"


def test_the_reference_check_sees_what_does_not_exist():
    fragment = {"A": {"Ref": "Gone"}, "B": {"Fn::GetAtt": ["Mode", "Arn"]}, "C": {"Fn::Sub": "${Table.Arn}${Lost}"}}
    assert _unknown(fragment, ["Table"], ["Mode"]) == ["Fn::GetAtt Mode", "Fn::Sub Lost", "Ref Gone"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(resources: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(role or policy logical id, statement) of every identity policy the stack creates."""
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                    yield name, statement
        elif resource["Type"] in IAM_POLICY_DOCUMENTS:
            for statement in _as_list(properties[IAM_POLICY_DOCUMENTS[resource["Type"]]]["Statement"]):
                yield name, statement


def outside_the_stack(statement: Mapping[str, Any], resources: Mapping[str, Any]) -> list[Any]:
    """The statement's resources that name nothing the stack creates ('*', a literal ARN, NotResource)."""
    if "NotResource" in statement:
        return [{"NotResource": statement["NotResource"]}]
    return [
        resource
        for resource in _as_list(statement.get("Resource", []))
        if not any(target in resources for target, _ in references(resource))
    ]


def test_every_iam_statement_is_on_a_resource_of_the_stack():
    resources = template()["Resources"]
    outside = [
        f"{name} {statement.get('Sid', statement.get('Action'))}: {found}"
        for name, statement in policy_statements(resources)
        if (found := outside_the_stack(statement, resources))
        and (name, statement.get("Sid")) not in STATEMENTS_OUTSIDE_THE_STACK_ALLOWED
    ]
    assert outside == [], "IAM grants outside the stack:\n  " + "\n  ".join(outside)


def test_only_the_documented_aws_managed_policies_are_attached():
    attached = {
        arn
        for resource in template()["Resources"].values()
        if resource["Type"] == "AWS::IAM::Role"
        for arn in resource["Properties"].get("ManagedPolicyArns", [])
    }
    assert attached - set(MANAGED_POLICIES_ALLOWED) == set()


def test_the_statement_check_sees_a_grant_outside_the_stack():
    resources = {"Table": {}}
    assert outside_the_stack({"Resource": "*"}, resources) == ["*"]
    assert outside_the_stack({"Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::other"}}, resources) != []
    inside = [{"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::Sub": "${Table.Arn}/index/*"}]
    assert outside_the_stack({"Resource": inside}, resources) == []
    assert outside_the_stack({"NotResource": inside}, resources) != []


def _methods(cfn: Mapping[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    body = cfn["Resources"]["TouchpointApi"]["Properties"]["Body"]
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_each_channel_function_trusts_its_own_key_which_its_usage_plan_ties_to_the_stage():
    cfn = template()
    resources = cfn["Resources"]
    plan_of_key = {
        r["Properties"]["KeyId"]["Ref"]: r["Properties"]["UsagePlanId"]["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGateway::UsagePlanKey"
    }
    keys = {}
    for name, resource in resources.items():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if resource["Type"] == "AWS::Lambda::Function" and "CHANNEL_API_KEY_ID" in variables:
            key = variables["CHANNEL_API_KEY_ID"]["Ref"]
            assert resources[key]["Type"] == "AWS::ApiGateway::ApiKey"
            keys[name] = key
            stages = resources[plan_of_key[key]]["Properties"]["ApiStages"]
            # The same plan meters the channel's key on its own routes and, handed over by the write-key
            # authorizer, on its SDK routes.
            assert stages == [
                {"ApiId": {"Ref": api}, "Stage": {"Ref": "StageName"}} for api in ("TouchpointApi", "SdkApi")
            ]
            depends_on = _as_list(resources[plan_of_key[key]].get("DependsOn", []))
            assert {"TouchpointApiStage", "SdkApiStage"} <= set(depends_on)
    assert len(keys) == 7
    assert len(set(keys.values())) == len(keys), "two channels share a key"
    for path, method, operation in _methods(cfn):
        if not path.startswith(("/v1/compliance/", "/v1/reports/")):
            assert operation["security"] == [{"api_key": []}], f"{method} {path}"


def test_web_pages_post_to_browser_routes_without_an_authorizer_throttled_by_their_own_stage_limit():
    """A beacon's write key is in its body, which no authorizer sees: the web function checks it (and the origin,
    from WebAllowedOrigins), so the route has no gateway credential, and its own stage throttle bounds it."""
    cfn = template()
    resources = cfn["Resources"]
    body = resources["SdkApi"]["Properties"]["Body"]
    assert [path for path in body["paths"] if "/browser/" in path] == ["/sdk/web/browser/{call}"]
    browser = body["paths"]["/sdk/web/browser/{call}"]
    assert set(browser) == {"post", "options"}
    for operation in browser.values():
        assert operation["security"] == []
        assert "WebChannelFunction" in operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    stage = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage" and _is_sdk_stage(r))
    throttles = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]}
    own = throttles[("/~1sdk~1web~1browser~1{call}", "POST")]
    web_plan = resources["WebUsagePlan"]["Properties"]["Throttle"]
    assert (own["ThrottlingRateLimit"], own["ThrottlingBurstLimit"]) == (web_plan["RateLimit"], web_plan["BurstLimit"])
    function = resources["WebChannelFunction"]["Properties"]
    assert function["Environment"]["Variables"]["ALLOWED_ORIGINS"] == {"Ref": "WebAllowedOrigins"}
    assert cfn["Parameters"]["WebAllowedOrigins"]["Default"] == ""  # in AWS, no page may post until told


def _is_sdk_stage(stage: Mapping[str, Any]) -> bool:
    return stage["Properties"]["RestApiId"] == {"Ref": "SdkApi"}


def test_the_sdk_api_meters_the_key_its_authorizer_returns_and_passes_bodies_intact():
    """SDKs send HTTP Basic, not x-api-key: a REQUEST authorizer reads it and API Gateway meters the key it returns."""
    cfn = template()
    resources = cfn["Resources"]
    api = resources["SdkApi"]["Properties"]
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    assert api["BinaryMediaTypes"] == ["*~1*"]  # gzip bodies must reach the function unchanged
    body = api["Body"]
    authorizer = body["securityDefinitions"]["WriteKeyAuthorizer"]
    assert authorizer["x-amazon-apigateway-authorizer"]["type"] == "request"
    assert authorizer["x-amazon-apigateway-authorizer"]["identitySource"] == "method.request.header.Authorization"
    paths = sorted(path for path in body["paths"] if "/browser/" not in path)
    assert paths == sorted(f"/sdk/{channel}/v1/{{call}}" for channel in CHANNELS)
    for path in paths:
        operation = body["paths"][path]["post"]
        assert {"WriteKeyAuthorizer": []} in operation["security"] and {"api_key": []} in operation["security"]
    # Refusals the SDKs can parse: every one carries `code` and `message`.
    for kind, response in body["x-amazon-apigateway-gateway-responses"].items():
        template_text = response["responseTemplates"]["application/json"]
        refusal = json.loads(template_text.replace("$context.error.messageString", '"a message"'))
        assert {"success", "code", "message"} <= refusal.keys(), kind


def test_only_the_compliance_role_may_invoke_compliance_routes_and_the_function_trusts_that_role():
    cfn = template()
    resources = cfn["Resources"]
    for path, method, operation in _methods(cfn):
        if path.startswith("/v1/compliance/"):
            assert operation["security"] == [{"AWS_IAM": []}], f"{method} {path}"
        # Caller credentials would need every caller to hold lambda:InvokeFunction on the function.
        assert "credentials" not in operation["x-amazon-apigateway-integration"], f"{method} {path}"
    variables = resources["ComplianceApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["COMPLIANCE_OPERATOR_ROLE_ARN"] == {"Fn::GetAtt": ["ComplianceOperatorRole", "Arn"]}
    invokers = {
        name: statement["Resource"]
        for name, statement in policy_statements(resources)
        if "execute-api:Invoke" in _as_list(statement["Action"])
    }
    compliance_routes = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${TouchpointApi}"
    assert invokers == {"ComplianceOperatorInvokePolicy": {"Fn::Sub": compliance_routes + "/*/*/v1/compliance/*"}}
    assert resources["ComplianceOperatorInvokePolicy"]["Properties"]["RoleName"] == {"Ref": "ComplianceOperatorRole"}


def test_the_stack_outputs_what_operators_and_the_smoke_test_read():
    cfn = template()
    resources, outputs = cfn["Resources"], {name: o["Value"] for name, o in cfn["Outputs"].items()}
    expected: dict[str, Any] = {"ComplianceOperatorRoleArn": {"Fn::GetAtt": ["ComplianceOperatorRole", "Arn"]}}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::ApiGateway::ApiKey":
            expected[f"{name}Id"] = {"Ref": name}
        elif resource["Type"] == "AWS::DynamoDB::Table":
            expected[f"{name}Name"] = {"Ref": name}
        elif resource["Type"] == "AWS::SQS::Queue":
            expected[f"{name}Name"] = {"Fn::GetAtt": [name, "QueueName"]}
    assert {name: outputs.get(name) for name in expected} == expected
    assert "${TouchpointApi}.execute-api" in outputs["ApiUrl"]["Fn::Sub"]


def _channel_functions(resources: Mapping[str, Any]) -> list[str]:
    return [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
        and "CHANNEL_API_KEY_ID" in resource["Properties"].get("Environment", {}).get("Variables", {})
    ]


def _alias_of(function: str, resources: Mapping[str, Any]) -> str:
    (alias,) = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Alias" and resource["Properties"]["FunctionName"] == {"Ref": function}
    ]
    return alias


def test_every_channel_function_starts_from_a_snapshot_of_a_published_version_behind_an_alias():
    cfn = template()
    resources = cfn["Resources"]
    channels = _channel_functions(resources)
    assert len(channels) == 7
    for function in channels:
        assert resources[function]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}, function
        alias = _alias_of(function, resources)
        version = resources[alias]["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        assert resources[version]["Type"] == "AWS::Lambda::Version"
        assert resources[version]["Properties"]["FunctionName"] == {"Ref": function}


def test_the_api_invokes_each_channel_function_through_its_alias_and_may_invoke_only_the_alias():
    cfn = template()
    resources = cfn["Resources"]
    aliases = {_alias_of(function, resources): function for function in _channel_functions(resources)}
    invoked = set()
    for path, method, operation in _methods(cfn):
        if path.startswith(("/v1/compliance/", "/v1/reports/")):
            continue
        uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        targets = {target for target, _ in references({"Fn::Sub": uri}) if target in resources}
        assert len(targets) == 1 and targets <= set(aliases), f"{method} {path} invokes {targets}, not an alias"
        invoked |= targets
    assert invoked == set(aliases)
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Permission":
            continue
        target = resource["Properties"]["FunctionName"]
        if target in ({"Ref": f} for f in aliases.values()):
            raise AssertionError(f"{name} lets API Gateway invoke $LATEST of {target['Ref']}, not its alias")
    permitted = {
        resource["Properties"]["FunctionName"].get("Ref")
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Permission"
    }
    assert set(aliases) <= permitted
