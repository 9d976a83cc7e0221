"""Given the functions' resolvers and template.yaml, the committed openapi.json is current and
says how each route authenticates (regenerate with `make openapi`)."""

from __future__ import annotations

import json

from local_runner.commands.openapi import build
from local_runner.emulator.template import REPO_ROOT
from tests.conftest import FUNCTIONS


def test_the_committed_openapi_document_is_current():
    committed = json.loads((REPO_ROOT / "openapi.json").read_text())
    assert committed == build(), "openapi.json is stale: run `make openapi`"


def test_every_template_route_is_documented_with_its_credentials_and_error_envelope():
    document = build()
    for spec in FUNCTIONS.values():
        for route in spec.routes:
            operation = document["paths"][route.path][route.method.lower()]
            expected = {"api_key": "channelApiKey", "iam": "sigv4", "authorizer": "sdkWriteKey"}.get(route.auth)
            # No gateway credential on the SDK API's browser routes: the function checks the body's write key
            assert operation["security"] == ([{expected: []}] if expected else []), route
            # The SDK API answers every refusal, the gateway's included, in the shape the SDKs parse.
            sdk_api = route.api == "SdkApi"
            errors = (
                {"SdkError"} if sdk_api else {"ErrorBody", "PartialFailure", "ContactsPartlyRecorded", "GatewayMessage"}
            )
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    refs = [s["$ref"] for s in schema.get("oneOf", [schema])]
                    names = {ref.rsplit("/", 1)[1] for ref in refs}
                    assert names <= errors, (route, status)
            assert "503" in operation["responses"] or route.auth == "iam" or route.method == "OPTIONS"


def test_api_gateways_own_refusals_are_documented_for_every_route():
    """A generated client must expect {"message": ...} from API Gateway, not only the functions' envelope."""
    document = build()
    assert document["components"]["schemas"]["GatewayMessage"]["required"] == ["message"]
    for spec in FUNCTIONS.values():
        for route in spec.routes:
            responses = document["paths"][route.path][route.method.lower()]["responses"]
            if route.api == "SdkApi":  # its gateway responses are customised to the SDKs' shape
                assert {"401" if route.method == "POST" else "403", "502", "504"} <= responses.keys(), route
                continue
            forbidden = responses["403"]
            refs = {s["$ref"].rsplit("/", 1)[1] for s in forbidden["content"]["application/json"]["schema"]["oneOf"]}
            assert refs == {"ErrorBody", "GatewayMessage"}, route
            assert "Missing Authentication Token" in forbidden["description"]
            if route.auth == "api_key":
                assert '{"message": "Forbidden"}' in forbidden["description"]
            for status in ("502", "504"):
                assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("GatewayMessage")
