"""kube-proxy's configuration keeps it to the test bed's bridge and service CIDR (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

from testbed.node import config, kubeproxy


def _config() -> dict[str, object]:
    doc: dict[str, object] = json.loads(kubeproxy.kube_proxy_config(Path("/kc"), "realnode", 10256, 10249))
    return doc


def test_kube_proxy_uses_nftables_so_its_rules_live_in_its_own_tables() -> None:
    assert _config()["mode"] == "nftables"


def test_kube_proxy_leaves_the_hosts_conntrack_sysctls_and_oom_score_alone() -> None:
    doc = _config()
    conntrack = doc["conntrack"]
    assert isinstance(conntrack, dict)
    assert conntrack["maxPerCore"] == 0 and conntrack["min"] == 0
    assert conntrack["tcpEstablishedTimeout"] == "0s" and conntrack["tcpCloseWaitTimeout"] == "0s"
    assert doc["oomScoreAdj"] == 0


def test_kube_proxy_serves_node_ports_and_listens_only_on_the_test_beds_addresses() -> None:
    doc = _config()
    assert doc["nodePortAddresses"] == [f"{config.SUBNET_GATEWAY}/32"]
    assert doc["clusterCIDR"] == config.SUBNET
    assert str(doc["healthzBindAddress"]).startswith("127.0.0.1:")
    assert str(doc["metricsBindAddress"]).startswith("127.0.0.1:")
