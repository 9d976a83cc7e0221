"""Lambda event filtering (FilterCriteria) as event source mappings apply it, for the local pollers.

A record is delivered when it matches at least one filter pattern (or there are none). Within a
pattern every key must match; a key's list of matchers matches when any one of them does. The
matchers Lambda documents: exact values (strings, numbers, booleans, null), "" (empty), prefix,
suffix, equals-ignore-case, anything-but (values or a prefix/suffix), numeric ranges and exists.
For SQS, a JSON body is matched as the parsed object; any other body as its text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

_MISSING = object()

_NUMERIC_OPERATORS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class InvalidFilterPattern(ValueError):
    """The pattern is not one Lambda would accept."""


def parse_pattern(pattern: str | Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation carries each pattern as a JSON string; SAM and tests may give the object."""
    parsed = json.loads(pattern) if isinstance(pattern, str) else dict(pattern)
    if not isinstance(parsed, dict):
        raise InvalidFilterPattern("a filter pattern must be a JSON object")
    return parsed


def matches_any(patterns: Iterable[str | Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """True if the record passes the filter criteria: no patterns, or at least one that matches."""
    parsed = [parse_pattern(p) for p in patterns]
    return not parsed or any(matches(p, record) for p in parsed)


def matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """True if every key of the pattern matches the record."""
    return all(
        _matches_key(rule, record.get(key, _MISSING) if isinstance(record, Mapping) else _MISSING)
        for key, rule in pattern.items()
    )


def sqs_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What an SQS filter sees: the record with a JSON body parsed (a plain-text body stays text)."""
    body = record.get("body")
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        parsed = body
    return {**record, "body": parsed}


def _matches_key(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping):
        return isinstance(value, Mapping) and matches(rule, value)
    if not isinstance(rule, list):
        raise InvalidFilterPattern("a filter pattern's leaves must be lists of matchers")
    values = value if isinstance(value, list) else [value]
    return any(_matches_value(matcher, v) for matcher in rule for v in values) or (
        value is _MISSING and any(_is_exists(m, False) for m in rule)
    )


def _is_exists(matcher: Any, expected: bool) -> bool:
    return isinstance(matcher, Mapping) and matcher.get("exists") is expected


def _matches_value(matcher: Any, value: Any) -> bool:
    if value is _MISSING:
        return False
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    if len(matcher) != 1:
        raise InvalidFilterPattern("a matcher object has exactly one operator")
    ((operator, operand),) = matcher.items()
    if operator not in _OPERATORS:
        raise InvalidFilterPattern(f"unsupported filter operator {operator!r}")
    return _OPERATORS[operator](operand, value)


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool) or expected is None or value is None:
        return expected is value
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return float(expected) == float(value)
    return bool(type(expected) is type(value) and expected == value)


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        return not _matches_value(operand, value)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equal(e, value) for e in excluded)


def _numeric(operand: Sequence[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if len(operand) % 2:
        raise InvalidFilterPattern("numeric takes operator/number pairs")
    pairs = zip(operand[::2], operand[1::2], strict=True)
    try:
        return all(_NUMERIC_OPERATORS[op](float(value), float(bound)) for op, bound in pairs)
    except KeyError as error:
        raise InvalidFilterPattern(f"unsupported numeric operator {error.args[0]!r}") from None


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "exists": lambda operand, _: operand is True,
    "prefix": lambda operand, value: isinstance(value, str) and value.startswith(operand),
    "suffix": lambda operand, value: isinstance(value, str) and value.endswith(operand),
    "equals-ignore-case": lambda operand, value: isinstance(value, str) and value.lower() == str(operand).lower(),
    "anything-but": _anything_but,
    "numeric": _numeric,
}
