"""The local API Gateway: routes from the template, API keys, SigV4, proxy events and results."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from local_runner.apigateway import FORBIDDEN, MISSING_TOKEN, Gateway, GatewayResponse, HttpRequest, RouteTable, to_http
from local_runner.principals import AuthenticationFailed, LocalPrincipal, authenticate, local_principals, sign
from local_runner.provision import Provisioned, local_api_key
from local_runner.template import ApiRoute, FunctionSpec, Intrinsics, functions, load

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
