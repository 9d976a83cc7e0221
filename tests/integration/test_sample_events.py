"""Every file in events/ is a valid event for the function its route maps to (as `sam local invoke -e` uses them)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FUNCTIONS
from tests.factories import EVENTS_DIR, load_event

API_EVENTS = sorted(p.name for p in EVENTS_DIR.glob("*.json") if "httpMethod" in json.loads(p.read_text()))


def _function_for(event: dict) -> str:
    for spec in FUNCTIONS.values():
        if any(r.path == event["resource"] and r.method == event["httpMethod"] for r in spec.routes):
            return spec.logical_id
    raise AssertionError(f"no function in template.yaml serves {event['httpMethod']} {event['resource']}")


def test_there_is_a_sample_event_for_every_channel_function():
    covered = {_function_for(load_event(name)) for name in API_EVENTS}
    channel_functions = {name for name in FUNCTIONS if name.endswith("ChannelFunction")}
    assert channel_functions <= covered


@pytest.mark.parametrize("name", API_EVENTS)
def test_sample_event_is_served(lambdas, name):
    event = load_event(name)
    function = _function_for(event)
    if event["requestContext"]["identity"].get("apiKeyId"):
        # env.json and the local provisioning agree on the local key ids
        assert (
            event["requestContext"]["identity"]["apiKeyId"]
            == json.loads((EVENTS_DIR.parent / "env.json").read_text())[function]["CHANNEL_API_KEY_ID"]
        )
    result = lambdas.invoke(function, event)
    assert result["statusCode"] == 200, result["body"]
