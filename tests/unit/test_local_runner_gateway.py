"""The local API Gateway: routes from the template, API keys, SigV4, proxy events and results."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from local_runner.emulator.apigateway import (
    FORBIDDEN,
    MISSING_TOKEN,
    Gateway,
    GatewayResponse,
    HttpRequest,
    RouteTable,
    to_http,
)
from local_runner.emulator.principals import AuthenticationFailed, LocalPrincipal, authenticate, local_principals, sign
from local_runner.emulator.provision import Provisioned, local_api_key
from local_runner.emulator.template import ApiRoute, FunctionSpec, Intrinsics, apis, functions, load

TEMPLATE = load()
HOST = "127.0.0.1:3000"


def _provisioned() -> Provisioned:
    refs = {"ComplianceOperatorRole": "compliance-operator"}
    provisioned = Provisioned(Intrinsics(refs, {}))
    provisioned.api_keys = {name: local_api_key(name) for name in ("WebApiKey", "StoreApiKey")}
    return provisioned


PRINCIPALS = local_principals({"Resources": {"ComplianceOperatorRole": {"Type": "AWS::IAM::Role"}}}, _provisioned())
OPERATOR = PRINCIPALS["local-ComplianceOperatorRole"]


def _gateway(specs: list[FunctionSpec] | None = None) -> Gateway:
    return Gateway(RouteTable(specs or functions(TEMPLATE)), _provisioned().api_keys, PRINCIPALS, "v1")


def _spec(name: str, *routes: ApiRoute) -> FunctionSpec:
    return FunctionSpec(name, f"functions/{name}/", "app.lambda_handler", {}, routes=list(routes))


def _request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, query: str = ""
) -> HttpRequest:
    return HttpRequest(method, path, query, list({"Host": HOST, **(headers or {})}.items()), body)


def test_every_api_event_of_the_template_is_a_route() -> None:
    table = RouteTable(functions(TEMPLATE))
    declared = {(r.method, r.path) for spec in functions(TEMPLATE) for r in spec.routes}
    assert {(r.method, r.resource) for r in table.routes} == declared
    matched = table.match("POST", "/v1/web/touchpoints")
    assert matched is not None
    assert matched[0].function == "WebChannelFunction"


def test_path_parameters_and_static_paths_win() -> None:
    table = RouteTable(
        [
            _spec("ById", ApiRoute("/v1/things/{thing_id}", "GET", "none")),
            _spec("Latest", ApiRoute("/v1/things/latest", "GET", "none")),
            _spec("Proxy", ApiRoute("/v1/files/{proxy+}", "ANY", "none")),
        ]
    )
    assert table.match("GET", "/v1/things/latest")[0].function == "Latest"  # type: ignore[index]
    route, parameters = table.match("GET", "/v1/things/t-1")  # type: ignore[misc]
    assert (route.function, parameters) == ("ById", {"thing_id": "t-1"})
    assert table.match("DELETE", "/v1/files/a/b.txt")[1] == {"proxy": "a/b.txt"}  # type: ignore[index]
    assert table.match("POST", "/v1/things/t-1") is None


def test_an_api_key_route_needs_a_provisioned_key() -> None:
    gateway = _gateway()
    body = b'{"event_id": "e"}'
    assert gateway.prepare(_request("POST", "/v1/web/touchpoints", body), HOST) == FORBIDDEN
    refused = gateway.prepare(_request("POST", "/v1/web/touchpoints", body, {"x-api-key": "guess"}), HOST)
    assert refused == FORBIDDEN
    route, event = gateway.prepare(
        _request("POST", "/v1/web/touchpoints", body, {"x-api-key": "local-key-WebApiKey"}, "a=1&a=2"), HOST
    )  # type: ignore[misc]
    assert route.function == "WebChannelFunction"
    assert event["requestContext"]["identity"]["apiKeyId"] == "local-WebApiKey"
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/v1/web/touchpoints"
    assert event["requestContext"]["stage"] == "v1"
    assert event["requestContext"]["path"] == "/v1/v1/web/touchpoints"
    assert (event["body"], event["isBase64Encoded"]) == ('{"event_id": "e"}', False)
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["headers"]["x-api-key"] == "local-key-WebApiKey"


def test_unknown_routes_get_api_gateways_missing_token() -> None:
    assert _gateway().prepare(_request("GET", "/v1/web/touchpoints"), HOST) == MISSING_TOKEN
    assert _gateway().prepare(_request("POST", "/nowhere"), HOST) == MISSING_TOKEN


def test_a_non_utf8_body_is_passed_base64_encoded() -> None:
    raw = b"\xff\xfe binary"
    _, event = _gateway().prepare(
        _request("POST", "/v1/web/touchpoints", raw, {"x-api-key": "local-key-WebApiKey"}), HOST
    )  # type: ignore[misc]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_binary_media_types_are_always_base64() -> None:
    gateway = Gateway(RouteTable([_spec("Upload", ApiRoute("/v1/upload", "POST", "none"))]), {}, {}, "v1", ["image~1*"])
    _, event = gateway.prepare(_request("POST", "/v1/upload", b"text", {"Content-Type": "image/png"}), HOST)  # type: ignore[misc]
    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b"text").decode(), True)


def _signed(principal: LocalPrincipal, method: str, path: str, body: bytes = b"") -> HttpRequest:
    headers = sign(principal, method, f"http://{HOST}{path}", body)
    return _request(method, path, body, headers)


def test_an_iam_route_gets_the_signed_callers_identity() -> None:
    body = json.dumps({"subject": {"subject_id": "sub_1"}}).encode()
    _, event = _gateway().prepare(_signed(OPERATOR, "POST", "/v1/compliance/erasures", body), HOST)  # type: ignore[misc]
    identity = event["requestContext"]["identity"]
    assert identity["userArn"] == "arn:aws:sts::123456789012:assumed-role/compliance-operator/local-session"
    assert identity["accessKey"] == "local-ComplianceOperatorRole"
    assert identity["caller"].endswith(":local-session")
    assert identity["apiKeyId"] is None


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda r: HttpRequest(r.method, r.path, r.query, r.headers, b'{"other": 1}'), "signature"),
        (lambda r: HttpRequest(r.method, "/v1/compliance/exports", r.query, r.headers, r.body), "signature"),
        (
            lambda r: HttpRequest(r.method, r.path, r.query, [h for h in r.headers if h[0] != "Authorization"], r.body),
            "Missing",
        ),
    ],
)
def test_a_tampered_or_unsigned_request_is_refused(tamper, message: str) -> None:  # type: ignore[no-untyped-def]
    request = tamper(_signed(OPERATOR, "POST", "/v1/compliance/erasures", b'{"a": 1}'))
    refusal = _gateway().prepare(request, HOST)
    assert isinstance(refusal, GatewayResponse)
    assert refusal.status == 403
    assert message in json.loads(refusal.body)["message"]


def test_unknown_keys_and_stale_signatures_are_refused() -> None:
    stranger = LocalPrincipal("x", "AKIASTRANGER", "secret", "arn", "id")
    request = _signed(stranger, "GET", "/v1/reports/profile-states")
    with pytest.raises(AuthenticationFailed, match="security token"):
        authenticate(PRINCIPALS, "GET", f"http://{HOST}/v1/reports/profile-states", request.headers, b"")
    request = _signed(OPERATOR, "GET", "/v1/reports/profile-states")
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(AuthenticationFailed, match="expired"):
        authenticate(PRINCIPALS, "GET", f"http://{HOST}/v1/reports/profile-states", request.headers, b"", now=later)


def test_every_template_role_is_a_local_principal_and_so_is_the_developer() -> None:
    assert {p.name for p in PRINCIPALS.values()} == {"developer", "ComplianceOperatorRole"}
    assert PRINCIPALS["local-developer"].arn == "arn:aws:iam::123456789012:user/local-developer"


def test_proxy_results_become_http_responses() -> None:
    response = to_http(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-One": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.status == 201
    assert response.body == b"\x00\x01"
    assert ("Set-Cookie", "a=1") in response.headers
    assert ("Set-Cookie", "b=2") in response.headers
    assert ("X-One", "1") in response.headers


@pytest.mark.parametrize("result", [None, {"body": "x"}, {"statusCode": "200"}, {"statusCode": 200, "body": {"a": 1}}])
def test_a_malformed_proxy_result_is_a_502(result: object) -> None:
    assert to_http(result).status == 502


def _sdk_gateway(answer: tuple[bool, object], calls: list[dict[str, object]]) -> Gateway:
    """The template's routes and APIs, with an authorizer that answers `answer` and records its events."""

    def invoke(function: str, event: dict[str, object]) -> tuple[bool, object]:
        assert function == "SdkAuthorizerFunction"
        calls.append(event)
        return answer

    return Gateway(
        RouteTable(functions(TEMPLATE)), _provisioned().api_keys, PRINCIPALS, "v1", apis=apis(TEMPLATE), invoke=invoke
    )


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _allow(key: str) -> dict[str, object]:
    resource = "arn:aws:execute-api:us-east-1:123456789012:localapi/v1/*"
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
    return {"principalId": "sdk", "policyDocument": {"Statement": [statement]}, "usageIdentifierKey": key}


def test_a_lambda_authorizers_key_becomes_the_api_key_and_its_answer_is_cached() -> None:
    calls: list[dict[str, object]] = []
    gateway = _sdk_gateway((True, _allow("local-key-WebApiKey")), calls)
    request = _request("POST", "/sdk/web/v1/batch", b"\x1f\x8b binary", _basic("local-key-WebApiKey"))
    prepared = gateway.prepare(request, HOST)
    assert not isinstance(prepared, GatewayResponse)
    route, event = prepared
    assert route.function == "WebChannelFunction"
    assert event["requestContext"]["identity"]["apiKeyId"] == "local-WebApiKey"
    assert event["requestContext"]["authorizer"] == {"principalId": "sdk"}
    assert event["isBase64Encoded"] is True  # the SDK API passes every body as binary
    assert calls[0]["type"] == "REQUEST" and str(calls[0]["methodArn"]).endswith("/v1/POST/sdk/web/v1/batch")
    assert "body" not in calls[0]  # an authorizer never sees the body
    gateway.prepare(request, HOST)
    assert len(calls) == 1  # the same Authorization header within the TTL: the cached answer


def test_the_authorizer_paths_refusals_are_the_apis_gateway_responses() -> None:
    calls: list[dict[str, object]] = []
    missing = _sdk_gateway((True, _allow("x")), calls).prepare(_request("POST", "/sdk/web/v1/batch", b"{}"), HOST)
    assert isinstance(missing, GatewayResponse) and missing.status == 401 and calls == []
    assert json.loads(missing.body)["code"] == "invalid_write_key"
    unknown = _sdk_gateway((True, _allow("not-a-key")), calls).prepare(
        _request("POST", "/sdk/web/v1/batch", b"{}", _basic("not-a-key")), HOST
    )
    assert isinstance(unknown, GatewayResponse) and unknown.status == 401  # INVALID_API_KEY, customised
    raised = _sdk_gateway((False, {"errorMessage": "Unauthorized"}), []).prepare(
        _request("POST", "/sdk/web/v1/batch", b"{}", _basic("k")), HOST
    )
    assert isinstance(raised, GatewayResponse) and raised.status == 401
    denied = {**_allow("local-key-WebApiKey"), "policyDocument": {"Statement": [{"Effect": "Deny", "Resource": "*"}]}}
    refused = _sdk_gateway((True, denied), []).prepare(_request("POST", "/sdk/web/v1/batch", b"{}", _basic("k")), HOST)
    assert isinstance(refused, GatewayResponse) and refused.status == 401  # ACCESS_DENIED, customised
    assert {"success", "code", "message"} <= json.loads(refused.body).keys()
