"""Filtered steps on the real control plane: ``barque.Skip`` and ``run_if`` end steps ``filtered`` in
the operator's status, a collect gets the keys that produced, and a second run serves them all.

Real: etcd, kube-apiserver, kube-controller-manager, `barque operator` as its own process, MinIO as
the store. Simulated: the node (testbed.testnode runs each Pod as a local process of `barque exec`).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import (
    compile_pipeline,
    create_pipeline,
    create_run,
    step_states,
    wait_run,
)

FILTERS = '''
from barque import Skip, asset, collect, partitions

@asset(partitions={"region": partitions(["amer", "emea", "apac"])})
def orders(region: str) -> list:
    return {"amer": [5], "emea": [], "apac": [4]}[region]

@asset(inputs={"orders": orders})
def with_orders(orders: list) -> list:
    return orders if orders else Skip("no orders")

@asset(inputs={"orders": with_orders}, run_if=lambda orders: sum(orders) > 4)
def big(orders: list) -> int:
    return sum(orders)

@asset(inputs={"all": collect(big)})
def total(all: list) -> list:
    return all
'''


def test_skip_and_run_if_filter_steps_in_the_cluster_and_a_second_run_serves_them_from_cache(
    kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess
) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, FILTERS, "filters"))
    create_run(kube_api, ns, "filters-1", "filters")
    run = wait_run(kube_api, ns, "filters-1", diagnose=operator_process.log_tail)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    states = step_states(run)
    assert states["with_orders[region=emea]"] == "filtered"
    assert states["big[region=emea]"] == "filtered"  # below a filtered step
    assert states["big[region=apac]"] == "filtered"  # run_if: 4 > 4 is false
    assert states["big[region=amer]"] == "succeeded" and states["total"] == "succeeded"
    assert run["status"]["counts"]["filtered"] == 3 and run["status"]["counts"]["skipped"] == 0
    create_run(kube_api, ns, "filters-2", "filters")
    again = wait_run(kube_api, ns, "filters-2", diagnose=operator_process.log_tail)
    assert again["status"]["phase"] == "Succeeded" and again["status"]["counts"]["cached"] == 7
    assert again["status"]["counts"]["filtered"] == 3 and not again["status"].get("running")


def test_filtered_steps_are_counted_in_the_printer_columns_and_the_metrics(
    kube_api: Api, ready: str, tmp_path: Path, kubectl: Any, operator_process: OperatorProcess
) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, FILTERS, "filters"))
    create_run(kube_api, ns, "filters-1", "filters")
    wait_run(kube_api, ns, "filters-1", diagnose=operator_process.log_tail)
    wide = kubectl("get", "bpr", "filters-1", "-n", ns, "-o", "wide").stdout.splitlines()
    columns = dict(zip(wide[0].split(), wide[1].split()))
    assert (columns["STATUS"], columns["FILTERED"], columns["FAILED"]) == ("Succeeded", "3", "0")
    metrics = urllib.request.urlopen(operator_process.metrics_url, timeout=10).read().decode()
    line = next(x for x in metrics.splitlines()
                if x.startswith("barque_steps_total{") and f'namespace="{ns}"' in x and 'state="filtered"' in x)
    assert float(line.rsplit(" ", 1)[1]) == 3
