"""The chart's monitoring, as a user's Prometheus and Grafana see it, on the real node.

Real: a Prometheus server (built from the Go module proxy) scraping the operator pod with the
job the chart's ServiceMonitor describes, after the examples ran in pods (examples_flow). Every
query of the Grafana dashboard the chart ships is sent to it as Grafana would send it
(testbed.prometheus), so a renamed metric or label fails here, not on a user's dashboard.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlparse

import pytest

from testbed import prometheus as prom
from testbed.node import config

from .examples_flow import METRICS_SERVICE, ExamplesRelease

DASHBOARD = json.loads(prom.DASHBOARD.read_text())
PANELS = prom.panel_queries(DASHBOARD)
VARIABLES = prom.variable_queries(DASHBOARD)


def test_prometheus_scrapes_the_operator_pod_the_metrics_service_names(examples_release: ExamplesRelease) -> None:
    targets = examples_release.prometheus.targets()
    assert len(targets) == 1, targets  # one operator pod behind the Service
    target = targets[0]
    assert target["health"] == "up", target
    assert target["labels"]["service"] == METRICS_SERVICE
    host = urlparse(target["scrapeUrl"]).hostname or ""
    assert ipaddress.ip_address(host) in ipaddress.ip_network(config.SUBNET)  # the pod's address on the bridge


@pytest.mark.parametrize("query", PANELS, ids=[q.title for q in PANELS])
def test_every_dashboard_panel_query_returns_data_after_the_examples_ran(
        examples_release: ExamplesRelease, query: prom.PanelQuery) -> None:
    assert prom.panel_has_data(examples_release.prometheus, query, examples_release.namespace,
                               examples_release.started - examples_release.scrape_interval,
                               examples_release.scrape_interval), query.expr


@pytest.mark.parametrize("var", VARIABLES, ids=[v.name for v in VARIABLES])
def test_every_dashboard_variable_lists_what_the_examples_ran(examples_release: ExamplesRelease,
                                                             var: prom.VariableQuery) -> None:
    values = prom.variable_values(examples_release.prometheus, var, examples_release.namespace,
                                  examples_release.started - 60)
    expected = {"namespace": {examples_release.namespace}, "pipeline": {"quickstart", "failing"}}[var.name]
    assert values == expected, (var, values)


def test_the_failing_and_the_cached_runs_are_counted_by_outcome_and_step_state(
        examples_release: ExamplesRelease) -> None:
    ns = examples_release.namespace
    finished = examples_release.prometheus.query(f'sum by (outcome) (barque_runs_finished_total{{namespace="{ns}"}})')
    by_outcome = {s["metric"]["outcome"]: float(s["value"][1]) for s in finished}
    phases = [run["status"]["phase"].lower() for run in examples_release.runs.values()]
    assert by_outcome == {phase: float(phases.count(phase)) for phase in set(phases)}
    cached = examples_release.prometheus.query(
        f'sum(barque_steps_total{{namespace="{ns}",pipeline="quickstart",state="cached"}})')
    assert cached and float(cached[0]["value"][1]) >= 2  # quickstart-again: both steps from the cache
