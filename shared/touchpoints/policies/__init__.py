"""Policy as data: the YAML documents the layer ships, read once per container."""

from __future__ import annotations

from importlib import resources
from typing import Any


def policy_text(name: str) -> str:
    """The text of one of the layer's policy files (`consent.yaml`, ...)."""
    return resources.files(__name__).joinpath(name).read_text()


def parse_yaml(text: str) -> Any:
    import yaml  # at first use: a function that reads no policy at cold start need not pay ~8 ms

    # libyaml's safe loader parses ~10x faster than the pure-Python one; some channel functions read
    # three policies at cold start to build their routes.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
