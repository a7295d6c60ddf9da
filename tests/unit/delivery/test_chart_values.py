"""The Helm chart's values, schema, templates and dashboard, checked without helm or a cluster.

``helm lint``/``helm template`` and the API server's dry-run live in
tests/integration/test_helm.py; these tests catch the cheap mistakes first: values that
break their own schema, undocumented values, templates reading values that do not exist,
and dashboard queries naming metrics the operator does not export.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema", reason="add jsonschema to the dev extra")

CHART = Path(__file__).resolve().parents[3] / "helm" / "barque"
METRICS = {
    "barque_runs_started_total",
    "barque_runs_finished_total",
    "barque_run_duration_seconds",
    "barque_step_duration_seconds",
    "barque_steps_total",
    "barque_active_runs",
    "barque_reconcile_errors_total",
}


def _values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())


def _validator() -> Any:
    schema = _schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_schema_is_draft_07_and_default_values_satisfy_it() -> None:
    assert _schema()["$schema"] == "http://json-schema.org/draft-07/schema#"
    errors = [e.message for e in _validator().iter_errors(_values())]
    assert errors == []


@pytest.mark.parametrize(
    "override",
    [
        {"rbac": {"scope": "everywhere"}},
        {"operator": {"image": {"repository": "x", "pullPolicy": "Sometimes"}}},
        {"metrics": {"port": "8080"}},
        {"watchNamespaces": ["Not_A_Namespace"]},
        {"store": {"urii": "s3://typo"}},
    ],
)
def test_schema_rejects_wrong_values(override: dict[str, Any]) -> None:
    values = _merge(_values(), override)
    assert list(_validator().iter_errors(values)), f"accepted {override}"


def test_schema_accepts_namespace_scope_with_watched_namespaces() -> None:
    values = _merge(_values(), {"rbac": {"scope": "namespace"}, "watchNamespaces": ["team-a", "team-b"]})
    assert list(_validator().iter_errors(values)) == []


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _schema_leaves(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        if "properties" in sub:
            yield from _schema_leaves(sub, path + ".")
        else:
            yield path


def _documented_keys() -> dict[str, bool]:
    """Each key path in values.yaml -> whether a comment sits right above it."""
    found: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in (CHART / "values.yaml").read_text().splitlines():
        m = re.match(r"^(\s*)([A-Za-z_][\w-]*):", line)
        if m:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m.group(2)))
            found[".".join(k for _, k in stack)] = previous.lstrip().startswith("#")
        if line.strip():
            previous = line
    return found


def test_every_value_is_documented_in_values_yaml() -> None:
    documented = _documented_keys()
    leaves = list(_schema_leaves(_schema()))
    missing = [p for p in leaves if p not in documented]
    uncommented = [p for p in leaves if p in documented and not documented[p]]
    assert missing == [], "schema values absent from values.yaml"
    assert uncommented == [], "values without a comment right above them"


def test_templates_read_only_values_that_exist() -> None:
    values = _values()
    unknown = set()
    for template in (CHART / "templates").iterdir():
        for path in re.findall(r"\.Values\.([A-Za-z_][\w.]*)", template.read_text()):
            node: Any = values
            for part in path.split("."):
                if not isinstance(node, dict) or part not in node:
                    unknown.add(f"{template.name}: .Values.{path}")
                    break
                node = node[part]
    assert sorted(unknown) == []


def test_dashboard_queries_name_exactly_the_operator_metrics() -> None:
    dashboard = json.loads((CHART / "dashboards" / "barque.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"barque_\w+", e)}
    assert named == METRICS


def test_dashboard_panels_have_unique_ids_and_a_datasource_variable() -> None:
    dashboard = json.loads((CHART / "dashboards" / "barque.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert {"namespace", "pipeline"} <= set(variables)


def test_dashboard_configmap_carries_the_grafana_sidecar_label() -> None:
    assert _values()["dashboards"]["labels"] == {"grafana_dashboard": "1"}
    template = (CHART / "templates" / "dashboard-configmap.yaml").read_text()
    assert '.Files.Get "dashboards/barque.json"' in template


def test_notes_tell_how_to_run_an_example_and_watch_it() -> None:
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    assert "examples/quickstart/pipeline.yaml" in notes
    assert "get bpr -w" in notes


def test_chart_is_api_v2() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "barque"


def test_dashboard_metrics_are_the_ones_the_operator_registers() -> None:
    metrics = pytest.importorskip("barque_operator.metrics")
    families = list(metrics.Metrics().registry.collect())
    # A counter family is exposed with a _total suffix; histograms by their own name (+ _bucket...).
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert METRICS <= exported, sorted(METRICS - exported)
