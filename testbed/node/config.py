"""Configuration files and command lines of the real node's parts (pure builders).

Settings follow what was seen to work on this kind of machine (shared REAL-NODE-NOTES): a
hybrid cgroup v1 host, no CAP_SYS_RESOURCE, no registry. Every path lives under the node's
state directory, so a node is one folder to look at after a failure and to delete after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..cluster import SERVICE_CIDR

BRIDGE = "bqtb0"
# A private subnet that exists only on this machine: the host's side of the test bed's bridge
# (SUBNET_GATEWAY) and the pods' network namespaces. Pods get no default route and the bridge
# does no masquerading, so nothing a pod sends can leave the machine.
SUBNET = "10.213.0.0/24"
SUBNET_GATEWAY = "10.213.0.1"
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
RUNC = Path("/usr/sbin/runc")  # Debian's runc


@dataclass(frozen=True)
class NodeLayout:
    """Where one node keeps everything, under one state directory."""

    state: Path

    @property
    def containerd_root(self) -> Path:
        return self.state / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.state / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.state / "containerd" / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        return self.state / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.state / "kubelet.yaml"

    @property
    def pod_logs(self) -> Path:
        return self.state / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.state / "resolv.conf"


def containerd_config(layout: NodeLayout, sandbox_image: str) -> str:
    """containerd 2.x (config version 3): CRI with runc under cgroupfs, CNI from Debian's plugins.

    restrict_oom_score_adj: without CAP_SYS_RESOURCE runc cannot lower oom_score_adj and fails
    with `can't get final child's PID from pipe: EOF`. The sandbox (pause) image is pinned to the
    test bed's own, since registry.k8s.io is unreachable. Network namespaces and runc's state stay
    under the node's state directory, not /var/run.
    """
    q = json.dumps  # a TOML basic string is a JSON string for these plain paths
    cri_rt = "plugins.'io.containerd.cri.v1.runtime'"
    return f"""version = 3
root = {q(str(layout.containerd_root))}
state = {q(str(layout.containerd_state))}
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = {q(str(layout.containerd_socket))}

[ttrpc]
  address = {q(str(layout.containerd_socket) + ".ttrpc")}

[plugins.'io.containerd.internal.v1.opt']
  path = {q(str(layout.state / "containerd" / "opt"))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = {q(sandbox_image)}

[{cri_rt}]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [{cri_rt}.containerd]
    default_runtime_name = "runc"
    [{cri_rt}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri_rt}.containerd.runtimes.runc.options]
        BinaryName = {q(str(RUNC))}
        Root = {q(str(layout.containerd_state / "runc"))}
        SystemdCgroup = false
  [{cri_rt}.cni]
    bin_dirs = [{q(str(CNI_BIN_DIR))}]
    conf_dir = {q(str(layout.cni_conf_dir))}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def cni_conflist(layout: NodeLayout) -> str:
    """bridge + host-local on SUBNET, without a default route or masquerading.

    The one route pods get is to the service CIDR through the bridge's address, where
    kube-proxy's rules (testbed.node.kubeproxy) turn a ClusterIP into an endpoint.

    isGateway is off on purpose: the bridge plugin would then also switch on the host's IP
    forwarding. The test bed gives the bridge its address itself (testbed.node.network).
    """
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "barque-testbed",
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": False, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET, "rangeStart": "10.213.0.10",
                                                          "gateway": SUBNET_GATEWAY}]],
                      "routes": [{"dst": SERVICE_CIDR, "gw": SUBNET_GATEWAY}], "dataDir": str(layout.cni_data_dir)}},
            {"type": "loopback"},
        ],
    }, indent=2)


def kubelet_config(layout: NodeLayout, ca_cert: Path, port: int, healthz_port: int) -> str:
    """KubeletConfiguration for this host: cgroup v1 allowed, cgroupfs, no swap check.

    The API server reaches the kubelet (logs) with the admin client certificate, checked
    against the test bed's CA; anonymous access is off. The kubelet serves on the bridge's
    address, the node's InternalIP (a kubelet refuses a loopback node IP).
    """
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "address": SUBNET_GATEWAY,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                           "x509": {"clientCAFile": str(ca_cert)}},
        "authorization": {"mode": "AlwaysAllow"},
        "podLogsDir": str(layout.pod_logs),
        "resolvConf": str(layout.resolv_conf),
        "clusterDomain": "cluster.local",
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": [],
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "maxPods": 60,
        "protectKernelDefaults": False,
        "localStorageCapacityIsolation": True,
    }
    return json.dumps(config, indent=2)  # YAML is a superset of JSON


def containerd_argv(binary: Path, layout: NodeLayout) -> list[str]:
    return [str(binary), "--config", str(layout.containerd_config), "--log-level", "info"]


def kubelet_argv(binary: Path, layout: NodeLayout, kubeconfig: Path, node_name: str) -> list[str]:
    return [str(binary), f"--config={layout.kubelet_config}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={layout.kubelet_root}", f"--cert-dir={layout.kubelet_root / 'pki'}",
            f"--hostname-override={node_name}", f"--node-ip={SUBNET_GATEWAY}", "--v=2"]


def scheduler_argv(binary: Path, kubeconfig: Path, port: int, cert_dir: Path) -> list[str]:
    return [str(binary), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", f"--secure-port={port}",
            f"--cert-dir={cert_dir}", "--leader-elect=false", "--profiling=false", "--v=1"]


def write_node_files(layout: NodeLayout, sandbox_image: str, ca_cert: Path, port: int, healthz_port: int) -> None:
    """Write containerd's config, the CNI conflist, the kubelet config and a resolv.conf."""
    for d in (layout.containerd_root, layout.containerd_state, layout.cni_conf_dir, layout.cni_data_dir,
              layout.kubelet_root, layout.pod_logs):
        d.mkdir(parents=True, exist_ok=True)
    layout.containerd_config.write_text(containerd_config(layout, sandbox_image))
    (layout.cni_conf_dir / "10-barque-testbed.conflist").write_text(cni_conflist(layout))
    layout.kubelet_config.write_text(kubelet_config(layout, ca_cert, port, healthz_port))
    # Pods resolve nothing outside: their own loopback is the only name server they are told of.
    layout.resolv_conf.write_text("nameserver 127.0.0.1\noptions ndots:1\n")
