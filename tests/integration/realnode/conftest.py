"""Fixtures of the real node: containerd 2.x + runc, a kubelet, kube-scheduler, CNI bridge.

Real: everything the parent conftest starts (etcd, kube-apiserver, kube-controller-manager,
MinIO, kubectl, helm), plus containerd (built from the Go module proxy) running Debian's runc,
a kubelet and kube-scheduler of the test bed's Kubernetes version, Debian's CNI bridge and
host-local plugins, and the barque images built from the Dockerfile and imported into
containerd. Nothing is simulated. The process test node is not started in this directory: both
would compete for the same Pods, so this tier runs in its own pytest session with
BARQUE_REAL_NODE=1 (`scripts/test.sh realnode`, and `all` after the integration tier).

Pods reach the loopback-only servers (kube-apiserver, MinIO) through forwarders on the test
bed's bridge address (testbed.node.forward); they have no route anywhere else.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testbed import cluster, images, paths, pki
from testbed.kubeapi import Api
from testbed.node import config, kubeproxy, leftovers, network
from testbed.node.forward import Forwarder
from testbed.node.mounts import unmount_all
from testbed.node.pause import write_pause_archive
from testbed.procs import ManagedProcess, http_ok, start_and_wait
from tests.integration.runs import create_namespace

from .flow import release, scheduled_pipelines  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent
REAL_NODE_NAME = "realnode"
ENABLED = os.environ.get("BARQUE_REAL_NODE", "") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="the real-node tier runs in its own pytest session: BARQUE_REAL_NODE=1 (scripts/test.sh realnode)")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def node_bin() -> dict[str, Path]:
    """The test bed's binaries including the node's (`build.sh --node`: long the first time)."""
    return paths.ensure_built(node=True)


@pytest.fixture(scope="session")
def bridge() -> Iterator[str]:
    """The test bed's bridge with its gateway address; removed after the session."""
    if os.geteuid() != 0:
        pytest.fail("the real node needs root (network namespaces, containerd, kubelet)")
    network.set_up(config.SUBNET_GATEWAY)
    yield config.SUBNET_GATEWAY
    network.tear_down()


@pytest.fixture(scope="session")
def kube_controller_manager(testbed_bin: dict[str, Path], testbed_dir: Path, kube_pki: pki.Pki,
                            kube_apiserver: Any) -> Iterator[ManagedProcess]:
    """The parent's controller manager plus the Deployment and ReplicaSet controllers (the chart's
    operator is a Deployment). Overrides the parent fixture in this directory only."""
    kubeconfig = pki.write_kubeconfig(testbed_dir / "kcm.kubeconfig", kube_apiserver.url, kube_pki.ca_cert,
                                      kube_pki.kcm_cert, kube_pki.kcm_key, user="kube-controller-manager")
    port = cluster.free_port()
    argv = cluster.controller_manager_argv(testbed_bin["kube-controller-manager"], kube_pki, kubeconfig, port,
                                           testbed_dir / "kcm", controllers=cluster.REAL_NODE_CONTROLLERS)
    ca = ssl.create_default_context(cafile=str(kube_pki.ca_cert))
    proc = start_and_wait("kube-controller-manager", argv, testbed_dir / "logs" / "kube-controller-manager.log",
                          http_ok(f"https://127.0.0.1:{port}/healthz", ca), timeout=120)
    yield proc
    proc.stop()


@dataclass(frozen=True)
class Containerd:
    layout: config.NodeLayout
    ctr: cluster.Tool  # ctr -a <socket> -n k8s.io ...
    process: ManagedProcess
    images: images.TestbedImages
    sandbox_image: str


def _import(ctr: cluster.Tool, archive: Path) -> None:
    ctr("images", "import", str(archive), timeout=300)


@pytest.fixture(scope="session")
def containerd(node_bin: dict[str, Path], testbed_dir: Path, barque_images: images.TestbedImages,
               bridge: str) -> Iterator[Containerd]:
    """containerd with the pause, runtime and operator images imported into the k8s.io namespace."""
    layout = config.NodeLayout(testbed_dir / "realnode")
    sandbox = write_pause_archive(node_bin["pause"], testbed_dir / "images" / "pause.tar")
    config.write_node_files(layout, sandbox, Path("/nonexistent"), 0, 0)  # kubelet's file is rewritten later
    env = {**os.environ, "PATH": f"{node_bin['containerd'].parent}:{os.environ.get('PATH', '')}"}
    ctr = cluster.Tool(node_bin["ctr"], ["--address", str(layout.containerd_socket), "--namespace", "k8s.io"], env)

    def ready() -> bool:
        return layout.containerd_socket.exists() and ctr("version", check=False).returncode == 0

    proc = start_and_wait("containerd", config.containerd_argv(node_bin["containerd"], layout),
                          testbed_dir / "logs" / "containerd.log", ready, env=env, timeout=60)
    try:
        _import(ctr, testbed_dir / "images" / "pause.tar")
        for image in barque_images.images.values():
            _import(ctr, image.archive)
        yield Containerd(layout=layout, ctr=ctr, process=proc, images=barque_images, sandbox_image=sandbox)
    finally:
        leftovers.stop_tasks(ctr)
        proc.stop(grace=20)
        leftovers.kill_shims(layout.containerd_socket)
        left = unmount_all(layout.state)  # else pytest cannot delete its temp dirs
        if left:
            print("could not unmount:", *left, sep="\n  ")


@dataclass(frozen=True)
class RealNode:
    name: str
    containerd: Containerd
    kubelet: ManagedProcess
    scheduler: ManagedProcess
    api_host: str  # where pods reach the API server: KUBERNETES_SERVICE_HOST / _PORT
    api_port: int
    minio_endpoint: str  # where pods reach MinIO

    def processes(self) -> tuple[ManagedProcess, ...]:
        return (self.containerd.process, self.kubelet, self.scheduler)


@pytest.fixture(scope="session")
def real_node(node_bin: dict[str, Path], testbed_dir: Path, kube_apiserver: Any, kube_pki: pki.Pki,
              kube_api: Api, kube_controller_manager: ManagedProcess, containerd: Containerd,
              minio: Any) -> Iterator[RealNode]:
    """A kubelet registered as Node `realnode`, kube-scheduler, and the forwarders pods use."""
    layout = containerd.layout
    kubelet_port, healthz_port = cluster.free_port(), cluster.free_port()
    layout.kubelet_config.write_text(config.kubelet_config(layout, kube_pki.ca_cert, kubelet_port, healthz_port))
    kubelet = start_and_wait(
        "kubelet", config.kubelet_argv(node_bin["kubelet"], layout, kube_apiserver.kubeconfig, REAL_NODE_NAME),
        testbed_dir / "logs" / "kubelet.log", lambda: cluster.node_ready(kube_api, REAL_NODE_NAME), timeout=120)
    sched_port = cluster.free_port()
    ca = ssl.create_default_context(cafile=str(kube_pki.ca_cert))
    ca.check_hostname, ca.verify_mode = False, ssl.CERT_NONE  # the scheduler serves a self-signed cert
    scheduler = start_and_wait(
        "kube-scheduler", config.scheduler_argv(node_bin["kube-scheduler"], kube_apiserver.kubeconfig, sched_port,
                                                testbed_dir / "scheduler"),
        testbed_dir / "logs" / "kube-scheduler.log", http_ok(f"https://127.0.0.1:{sched_port}/healthz", ca),
        timeout=60)
    api_port = int(kube_apiserver.url.rsplit(":", 1)[1])
    minio_port = int(minio.endpoint_url.rsplit(":", 1)[1])
    forwards = [Forwarder(config.SUBNET_GATEWAY, api_port), Forwarder(config.SUBNET_GATEWAY, minio_port)]
    try:
        yield RealNode(name=REAL_NODE_NAME, containerd=containerd, kubelet=kubelet, scheduler=scheduler,
                       api_host=config.SUBNET_GATEWAY, api_port=forwards[0].port,
                       minio_endpoint=f"http://{config.SUBNET_GATEWAY}:{forwards[1].port}")
    finally:
        for forward in forwards:
            forward.close()
        scheduler.stop()
        kubelet.stop(grace=20)


@pytest.fixture
def real_namespace(request: pytest.FixtureRequest, kube_api: Api, real_node: RealNode) -> Iterator[str]:
    """A fresh namespace for the real node (its default ServiceAccount exists); deleted after."""
    for part in real_node.processes():
        part.check_alive()
    name = create_namespace(kube_api, f"rn-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{os.urandom(3).hex()}")
    yield name
    kube_api.request("DELETE", f"/api/v1/namespaces/{name}")


@dataclass(frozen=True)
class KubeProxy:
    process: ManagedProcess
    ruleset_before: str  # the host's nftables ruleset outside kube-proxy's tables, before it started


@pytest.fixture(scope="session")
def kube_proxy(node_bin: dict[str, Path], testbed_dir: Path, kube_apiserver: Any,
               real_node: RealNode) -> Iterator[KubeProxy]:
    """kube-proxy (nftables mode) for the real node: Service ClusterIPs work from pods and the host."""
    kubeproxy.cleanup()  # a killed earlier session's tables
    before = kubeproxy.ruleset_outside()
    healthz, metrics = cluster.free_port(), cluster.free_port()
    conf = testbed_dir / "realnode" / "kube-proxy.yaml"
    conf.write_text(kubeproxy.kube_proxy_config(kube_apiserver.kubeconfig, real_node.name, healthz, metrics))
    proc = start_and_wait("kube-proxy", kubeproxy.kube_proxy_argv(node_bin["kube-proxy"], conf),
                          testbed_dir / "logs" / "kube-proxy.log", http_ok(f"http://127.0.0.1:{healthz}/healthz"),
                          timeout=60)
    try:
        yield KubeProxy(process=proc, ruleset_before=before)
    finally:
        proc.stop()
        kubeproxy.cleanup(keep_copy=testbed_dir / "logs" / "kube-proxy-tables.nft")


@pytest.fixture(scope="session")
def examples_release(real_node: RealNode, kube_proxy: KubeProxy, node_bin: dict[str, Path], testbed_dir: Path,
                     kube_apiserver: Any, kube_api: Api, helm: Any, kubectl: Any, minio: Any) -> Iterator[Any]:
    """The chart installed, scraped by a real Prometheus, with the examples applied and run
    (tests/integration/realnode/examples_flow.py)."""
    from .examples_flow import examples_release as flow

    with flow(real_node, node_bin["prometheus"], testbed_dir, kube_apiserver.kubeconfig, kube_api, helm, kubectl,
              minio) as release:
        yield release
