"""kube-proxy for the real node: Service ClusterIPs as a user's cluster has them, confined.

nftables mode, so every rule lives in kube-proxy's own tables (`ip kube-proxy`, `ip6
kube-proxy`) and matches only the addresses of Services (ClusterIPs inside the test bed's
service CIDR, NodePorts only on the bridge's address) or packets kube-proxy itself marked.
What would change the host as a whole is switched off: the conntrack sysctls (`maxPerCore:
0`, zero timeouts leave the kernel's values alone) and the OOM score. Service traffic is
masqueraded (`masqueradeAll`) to the bridge's address, so a reply always comes back through
the host's conntrack whichever side of the bridge it starts from. The tables are deleted when
the node stops (`cleanup`), and `ruleset_outside` lets a test check nothing else was touched.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from .config import SUBNET, SUBNET_GATEWAY

TABLES = (("ip", "kube-proxy"), ("ip6", "kube-proxy"))


def kube_proxy_config(kubeconfig: Path, node_name: str, healthz_port: int, metrics_port: int) -> str:
    """KubeProxyConfiguration (v1alpha1) confined to the test bed's subnet and service CIDR."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node_name,
        "bindAddress": SUBNET_GATEWAY,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": SUBNET,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [f"{SUBNET_GATEWAY}/32"],
        "nftables": {"masqueradeAll": True},
        # Zero means "leave the kernel's setting alone": these are sysctls of the whole host.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
                      "tcpBeLiberal": False, "udpTimeout": "0s", "udpStreamTimeout": "0s"},
        "oomScoreAdj": 0,  # lowering it needs CAP_SYS_RESOURCE, which this host does not give
        "configSyncPeriod": "15m0s",
    }
    return json.dumps(config, indent=2)  # YAML is a superset of JSON


def kube_proxy_argv(binary: Path, config_file: Path) -> list[str]:
    return [str(binary), f"--config={config_file}", "--v=2"]


def cleanup(keep_copy: Path | None = None) -> None:
    """Delete kube-proxy's tables (a stopped kube-proxy leaves them); safe when they are gone.
    keep_copy: write them there first, to read after a failure."""
    if keep_copy is not None:
        listed = [subprocess.run(["nft", "list", "table", family, table], capture_output=True, text=True,
                                 timeout=30).stdout for family, table in TABLES]
        keep_copy.write_text("\n".join(listed))
    for family, table in TABLES:
        subprocess.run(["nft", "delete", "table", family, table], capture_output=True, timeout=30)


def ruleset_outside() -> str:
    """The host's nftables ruleset without kube-proxy's tables and without counters, nor podman
    netavark's chains and jumps (they change whenever a container of another tier starts)."""
    out = subprocess.run(["nft", "-s", "list", "ruleset"], capture_output=True, text=True, timeout=30, check=True)
    kept: list[str] = []
    closing: str | None = None  # the line that ends the block being skipped
    for line in out.stdout.splitlines():
        if closing is None and re.match(r"^table (ip|ip6) kube-proxy \{", line):
            closing = "}"
        elif closing is None and re.match(r"^\tchain NETAVARK", line):
            closing = "\t}"
        elif closing is None and line.strip() and "NETAVARK" not in line:
            kept.append(line)
        elif line == closing:
            closing = None
    return "\n".join(kept)
