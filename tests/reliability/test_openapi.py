"""Given the functions' resolvers and template.yaml, the committed openapi.json is current and
says how each route authenticates (regenerate with `make openapi`)."""

from __future__ import annotations

import json

from local_runner.openapi import build
from local_runner.template import REPO_ROOT
from tests.conftest import FUNCTIONS


def test_the_committed_openapi_document_is_current():
    committed = json.loads((REPO_ROOT / "openapi.json").read_text())
    assert committed == build(), "openapi.json is stale: run `make openapi`"


def test_every_template_route_is_documented_with_its_credentials_and_error_envelope():
    document = build()
    for spec in FUNCTIONS.values():
        for route in spec.routes:
            operation = document["paths"][route.path][route.method.lower()]
            expected = {"api_key": "channelApiKey", "iam": "sigv4"}[route.auth]
            assert operation["security"] == [{expected: []}], route
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]["$ref"]
                    assert schema.rsplit("/", 1)[1] in {"ErrorBody", "PartialFailure"}, (route, status)
            assert "503" in operation["responses"] or route.auth == "iam"
