"""The chart's ServiceMonitor becomes the scrape job prometheus-operator would make of it, and
the dashboard's queries become what Grafana sends (no servers: only the test bed's helm, which
is why this is in the integration tier, where the test bed is built before the tests start)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed import paths
from testbed import prometheus as prom

CHART = paths.REPO_ROOT / "helm" / "barque"


@pytest.fixture(scope="module")
def service_monitor(testbed_bin: dict[str, Path]) -> dict[str, Any]:
    """The chart's ServiceMonitor as helm renders it."""
    out = subprocess.run([str(testbed_bin["helm"]), "template", "barque", str(CHART), "--namespace", "team-a",
                          "--set", "metrics.serviceMonitor.enabled=true", "--show-only", "templates/servicemonitor.yaml"],
                         capture_output=True, text=True, check=True, timeout=60)
    monitor: dict[str, Any] = yaml.safe_load(out.stdout)
    return monitor


def test_the_scrape_job_keeps_the_metrics_services_endpoints_in_its_namespace(service_monitor: dict[str, Any]) -> None:
    job = prom.scrape_job(service_monitor, Path("/kc"))
    sd = job["kubernetes_sd_configs"][0]
    assert sd == {"role": "endpoints", "namespaces": {"names": ["team-a"]}, "kubeconfig_file": "/kc"}
    keeps = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
    assert keeps["__meta_kubernetes_endpoint_port_name"] == "metrics"
    assert keeps["__meta_kubernetes_service_label_app_kubernetes_io_component"] == "operator"


def test_the_scrape_job_keeps_the_runs_namespace_label(service_monitor: dict[str, Any]) -> None:
    # honorLabels: the series' own `namespace` (the run's) wins over the target's (the operator's).
    assert prom.scrape_job(service_monitor, None)["honor_labels"] is True


def test_in_cluster_discovery_has_no_kubeconfig(service_monitor: dict[str, Any]) -> None:
    assert "kubeconfig_file" not in prom.scrape_job(service_monitor, None)["kubernetes_sd_configs"][0]


def test_grafana_variables_are_replaced_as_grafana_sends_them() -> None:
    expr = 'rate(x{namespace=~"$namespace",pipeline=~"$pipeline"}[$__rate_interval]) + increase(x[$__range])'
    assert prom.grafana_expr(expr, "team-a", 2, 300) == \
        'rate(x{namespace=~"team-a",pipeline=~".*"}[8s]) + increase(x[300s])'


def test_an_unknown_dashboard_variable_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\$interval"):
        prom.grafana_expr("rate(x[$interval])", "team-a", 2, 300)


def test_every_dashboard_variable_is_a_label_values_query() -> None:
    variables = prom.variable_queries(json.loads(prom.DASHBOARD.read_text()))
    assert {v.name: v.label for v in variables} == {"namespace": "namespace", "pipeline": "pipeline"}
