"""A real Prometheus for the real-node tier: its config, command line and HTTP API queries.

The scrape job is the chart's own ServiceMonitor translated the way prometheus-operator
translates one (endpoints discovery in the Service's namespace, the Service's labels and
the endpoint port's name kept by relabelling, the monitor's path, interval, timeout and
honorLabels; the `namespace`, `service`, `pod`, `container`, `endpoint` and `job` target
labels it adds). So Prometheus scrapes the operator pod at the address the metrics Service's
endpoints name, on the test bed's bridge, as a user's Prometheus scrapes it: never through
the ClusterIP. It discovers them from the API server with the kubeconfig it is given.

The dashboard part sends every query of the chart's Grafana dashboard as Grafana would (its
variables at "All" or one namespace, `$__rate_interval` at Grafana's floor of four scrape
intervals) and says which return no data. The real-node tests use it, and so does
scripts/kind-e2e.sh through the command line:

    python3 -m testbed.prometheus --url http://127.0.0.1:9090 --namespace NS --since UNIX_TIME \
        [--scrape-interval SECONDS] [--pipelines a,b]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

DASHBOARD = Path(__file__).resolve().parents[1] / "helm" / "barque" / "dashboards" / "barque.json"
LABEL_VALUES = re.compile(r"^label_values\((?P<match>.+),\s*(?P<label>\w+)\)$")


class Series(TypedDict):
    metric: dict[str, str]
    values: list[tuple[float, str]]


class PrometheusError(RuntimeError):
    """The HTTP API refused a query; the message has its error and the query."""


def _label_name(name: str) -> str:
    """A Kubernetes label name as Prometheus spells it in `__meta_kubernetes_service_label_*`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def scrape_job(service_monitor: dict[str, Any], kubeconfig: Path | None) -> dict[str, Any]:
    """The scrape config prometheus-operator generates for the first endpoint of a ServiceMonitor;
    Prometheus finds the API server with the kubeconfig, or in-cluster (its pod's ServiceAccount)."""
    meta, spec = service_monitor["metadata"], service_monitor["spec"]
    endpoint = spec["endpoints"][0]
    keep = [{"action": "keep", "source_labels": [f"__meta_kubernetes_service_label_{_label_name(k)}"],
             "regex": re.escape(v)} for k, v in spec["selector"]["matchLabels"].items()]
    keep.append({"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                 "regex": re.escape(endpoint["port"])})
    targets = [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job"},
        {"target_label": "endpoint", "replacement": endpoint["port"]},
    ]
    return {
        "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/0",
        "honor_labels": bool(endpoint.get("honorLabels", False)),
        "scrape_interval": endpoint.get("interval", "30s"),
        "scrape_timeout": endpoint.get("scrapeTimeout", "10s"),
        "metrics_path": endpoint.get("path", "/metrics"),
        "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": spec["namespaceSelector"]["matchNames"]},
                                   **({"kubeconfig_file": str(kubeconfig)} if kubeconfig else {})}],
        "relabel_configs": keep + targets,
    }


def config(jobs: list[dict[str, Any]]) -> str:
    """prometheus.yml with these scrape jobs (JSON is YAML)."""
    return json.dumps({"global": {"evaluation_interval": "15s"}, "scrape_configs": jobs}, indent=2)


def argv(binary: Path, config_file: Path, data_dir: Path, port: int) -> list[str]:
    return [str(binary), f"--config.file={config_file}", f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=2h", "--log.level=info"]


class Client:
    """The HTTP API of one Prometheus (`/api/v1/...`), dicts and lists out."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self, path: str, params: dict[str, str] | list[tuple[str, str]]) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self._get("/api/v1/targets", {"state": "active"})["activeTargets"]
        return active

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at the server's now: [{"metric": {...}, "value": [time, "value"]}]."""
        result: list[dict[str, Any]] = self._get("/api/v1/query", {"query": expr})["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        try:
            data = self._get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                     "step": f"{step:g}"})
        except urllib.error.HTTPError as err:  # a bad query is a 400 with the reason in its body
            raise PrometheusError(f"{expr}: {err.read().decode(errors='replace')}") from err
        result: list[Series] = data["result"]
        return result

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        values: list[str] = self._get(f"/api/v1/label/{label}/values",
                                      [("match[]", match), ("start", f"{start:.3f}"), ("end", f"{end:.3f}")])
        return values


@dataclass(frozen=True)
class PanelQuery:
    title: str  # "<panel title> [<refId>]"
    expr: str  # as the dashboard writes it, Grafana variables included


@dataclass(frozen=True)
class VariableQuery:
    name: str
    match: str  # the series selector of label_values(<match>, <label>)
    label: str


def panel_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    return [PanelQuery(f"{panel['title']} [{target['refId']}]", target["expr"])
            for panel in dashboard["panels"] for target in panel.get("targets", [])]


def variable_queries(dashboard: dict[str, Any]) -> list[VariableQuery]:
    """The dashboard's query variables; each must be a label_values(selector, label) query."""
    found = []
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        parsed = LABEL_VALUES.match(query)
        if not parsed:
            raise ValueError(f"{DASHBOARD}: variable {var['name']}: not a label_values(selector, label) query: {query}")
        found.append(VariableQuery(var["name"], parsed["match"], parsed["label"]))
    return found


def grafana_expr(expr: str, namespace: str, scrape_interval: float, range_seconds: int) -> str:
    """The PromQL Grafana sends for a panel's expression with $namespace set to one namespace and
    $pipeline at "All"."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):  # a DNS label: nothing to escape in a regex
        raise ValueError(f"not a namespace name: {namespace!r}")
    for name, value in (("$namespace", namespace), ("$pipeline", ".*"),
                        ("$__rate_interval", f"{math.ceil(4 * scrape_interval)}s"), ("$__range", f"{range_seconds}s")):
        expr = expr.replace(name, value)
    if "$" in expr:
        raise ValueError(f"{DASHBOARD}: a dashboard variable this check does not know: {expr}")
    return expr


def panel_has_data(client: Client, query: PanelQuery, namespace: str, since: float, scrape_interval: float) -> bool:
    """Whether the panel's query, over [since, now], has a series with a finite value."""
    end = time.time()
    expr = grafana_expr(query.expr, namespace, scrape_interval, math.ceil(end - since))
    series = client.query_range(expr, since, end, scrape_interval)
    return any(math.isfinite(float(v)) for s in series for _, v in s["values"])


def variable_values(client: Client, var: VariableQuery, namespace: str, since: float) -> set[str]:
    match = grafana_expr(var.match, namespace, 0, 0)
    return set(client.label_values(var.label, match, since, time.time()))


def _check_dashboard(opts: argparse.Namespace) -> int:
    dashboard = json.loads(DASHBOARD.read_text())
    client = Client(opts.url)
    empty = [q.title for q in panel_queries(dashboard)
             if not panel_has_data(client, q, opts.namespace, opts.since, opts.scrape_interval)]
    empty += [f"variable {v.name}" for v in variable_queries(dashboard)
              if not variable_values(client, v, opts.namespace, opts.since)]
    for title in empty:
        print(f"no data: {title}", file=sys.stderr)
    return 1 if empty else 0


def _scrape_config(opts: argparse.Namespace) -> int:
    import yaml  # the operator's and dev extras have it; the rest of this module needs only the stdlib

    print(config([scrape_job(yaml.safe_load(sys.stdin), opts.kubeconfig)]))
    return 0


def main(args: list[str]) -> int:
    """scrape-config: prometheus.yml for the ServiceMonitor on stdin (`helm template` output).
    check-dashboard: every query of the chart's dashboard against a Prometheus; exit 1 naming the
    ones without data."""
    parser = argparse.ArgumentParser(prog="python -m testbed.prometheus", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    scrape = commands.add_parser("scrape-config")
    scrape.add_argument("--kubeconfig", type=Path, help="default: in-cluster (the pod's ServiceAccount)")
    scrape.set_defaults(run=_scrape_config)
    check = commands.add_parser("check-dashboard")
    check.add_argument("--url", required=True)
    check.add_argument("--namespace", required=True, help="the namespace the runs were in")
    check.add_argument("--since", type=float, required=True, help="unix time before the first run")
    check.add_argument("--scrape-interval", type=float, default=30.0)
    check.set_defaults(run=_check_dashboard)
    opts = parser.parse_args(args)
    code: int = opts.run(opts)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
