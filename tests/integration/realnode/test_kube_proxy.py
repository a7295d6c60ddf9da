"""kube-proxy on the real node: pods reach a Service by its ClusterIP, and nothing else on the
host changes.

Real: kube-proxy v1.37 (nftables mode) built from the test bed's Kubernetes module, the CNI
route to the service CIDR, kube-apiserver's ClusterIP allocation, and the examples' step pods
storing into MinIO through the `minio` Service (examples_flow). Nothing is simulated.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from testbed import cluster
from testbed.node import kubeproxy

from .conftest import KubeProxy
from .examples_flow import ExamplesRelease


def test_step_pods_store_into_minio_through_its_service_cluster_ip(examples_release: ExamplesRelease,
                                                                  minio: Any) -> None:
    assert ipaddress.ip_address(examples_release.minio_cluster_ip) in ipaddress.ip_network(cluster.SERVICE_CIDR)
    assert examples_release.runs["quickstart-example"]["status"]["phase"] == "Succeeded"
    listed = minio.client().list_objects_v2(Bucket=minio.bucket, Prefix=examples_release.store_prefix)
    assert listed.get("KeyCount", 0) > 0


def test_kube_proxy_changes_no_rule_outside_its_own_tables(examples_release: ExamplesRelease,
                                                          kube_proxy: KubeProxy) -> None:
    assert kubeproxy.ruleset_outside() == kube_proxy.ruleset_before
