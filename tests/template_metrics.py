"""The metrics the alarms and dashboard widgets of the transformed template name (tests.cloudformation), with
the CloudFormation values resolved the way the checks need them, and the metrics the code prints (EMF)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.cloudformation import PSEUDO_PARAMETERS

_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")
_SEARCH = re.compile(r"SEARCH\(\s*'\{([^}]*)\}\s+MetricName=\"([^\"]+)\"'")


def resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def resolve(template: Mapping[str, Any], value: Any) -> Any:
    """Parameters become their defaults, pseudo parameters their test values, a resource `<Logical>` or
    `<Logical.Attribute>`: enough to tell which resource a dimension names."""
    parameters = template.get("Parameters", {})

    def name(variable: str) -> str:
        if variable in PSEUDO_PARAMETERS:
            return str(PSEUDO_PARAMETERS[variable])
        if variable in parameters:
            return str(parameters[variable].get("Default", ""))
        return f"<{variable}>"

    if isinstance(value, dict):
        if "Ref" in value:
            return name(value["Ref"])
        if "Fn::GetAtt" in value:
            return name(".".join(value["Fn::GetAtt"]))
        if "Fn::Sub" in value:
            return _SUB_VARIABLE.sub(lambda m: name(m[1]), value["Fn::Sub"])
        return {k: resolve(template, v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(template, v) for v in value]
    return value


@dataclass(frozen=True)
class MetricReference:
    """A metric an alarm or a widget names. A SEARCH names only the dimension keys (`dimensions` values None)."""

    where: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str | None], ...]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.dimensions)

    @property
    def values(self) -> dict[str, str | None]:
        return dict(self.dimensions)


def _from_search(where: str, expression: str) -> MetricReference:
    found = _SEARCH.search(expression)
    assert found, f"{where}: only SEARCH('{{Namespace,key,...}} MetricName=\"...\"', ...) expressions are read"
    namespace, *keys = (part.strip() for part in found[1].split(","))
    return MetricReference(where, namespace, found[2], tuple((k, None) for k in sorted(keys)))


def _dimensions(pairs: list[Any]) -> tuple[tuple[str, str | None], ...]:
    return tuple(sorted((str(pairs[i]), str(pairs[i + 1])) for i in range(0, len(pairs), 2)))


def alarm_metrics(template: Mapping[str, Any]) -> Iterator[MetricReference]:
    for name, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = resolve(template, alarm["Properties"])
        if "MetricName" in props:
            dims = [x for d in props.get("Dimensions", []) for x in (d["Name"], d["Value"])]
            yield MetricReference(name, props["Namespace"], props["MetricName"], _dimensions(dims))
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                dims = [x for d in metric.get("Dimensions", []) for x in (d["Name"], d["Value"])]
                yield MetricReference(
                    f"{name}.{query['Id']}", metric["Namespace"], metric["MetricName"], _dimensions(dims)
                )
            elif "SEARCH(" in query.get("Expression", ""):
                yield _from_search(f"{name}.{query['Id']}", query["Expression"])


def dashboard_bodies(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(resolve(template, dashboard["Properties"]["DashboardBody"]))
        for name, dashboard in resources_of_type(template, "AWS::CloudWatch::Dashboard").items()
    }


def widget_metrics(template: Mapping[str, Any]) -> Iterator[MetricReference]:
    for dashboard, body in dashboard_bodies(template).items():
        for widget in body["widgets"]:
            where = f"{dashboard}: {widget['properties'].get('title')}"
            for entry in widget["properties"].get("metrics", []):
                if isinstance(entry[0], dict):
                    yield _from_search(where, entry[0]["expression"])
                    continue
                plain = [part for part in entry if not isinstance(part, dict)]
                assert "." not in plain, f"{where}: write each metric out in full, no '.' shorthand"
                namespace, name, *dims = plain
                yield MetricReference(where, namespace, name, _dimensions(dims))


def emitted_metrics(stdout: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric, dimensions) of every Embedded Metric Format record printed."""
    found = set()
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for keys in directive["Dimensions"]:
                dims = tuple(sorted((k, str(record[k])) for k in keys))
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dims))
    return found
