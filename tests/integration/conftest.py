"""Fixtures of the integration tier: the test bed on loopback.

Real: etcd, kube-apiserver (TLS, client certificates, RBAC, service-account tokens),
kube-controller-manager (Job, garbage collector, namespace, service accounts), MinIO, and the
kubectl and helm binaries, all built by testbed/build.sh at pinned versions; the barque images,
built from the Dockerfile by testbed/images.sh and run with podman. Simulated, and only where
a test asks for it: `sim_node`, the simulated node (testbed/testnode runs each Pod's containers
as local processes, ignoring images; no scheduler, no kubelet API). The real node is
tests/integration/realnode/, its own pytest session.

Everything is session-scoped, on 127.0.0.1 with free ports and fresh temp dirs, except
`namespace` and `barque_cli` (one per test). Every test in this directory is marked
`integration`. The only kubeconfig any test may read is the one `kube_apiserver` writes.
"""

from __future__ import annotations

import os
import re
import secrets
import ssl
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from testbed import cluster, images, paths, pki  # noqa: E402
from testbed.kubeapi import Api, ApiError  # noqa: E402
from testbed.node import config as node_config  # noqa: E402
from testbed.procs import ManagedProcess, http_ok, start_and_wait  # noqa: E402
from tests.integration.operator_fixtures import OperatorProcess, barque_crds, operator_process  # noqa: E402,F401  (fixtures)
from tests.integration.runs import create_namespace  # noqa: E402

HERE = Path(__file__).resolve().parent
SIM_NODE_NAME = "simnode"


@pytest.hookimpl(tryfirst=True)  # mark before `-m` selection looks at the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
    # The tests that need the barque images run last (a stable sort keeps every other order):
    # when the images' inputs changed, scripts/test.sh builds them beside the tests, and the
    # `barque_images` fixture waits for that build, so the other tests run meanwhile.
    items.sort(key=lambda item: "barque_images" in getattr(item, "fixturenames", ()))


# -- binaries ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def testbed_bin() -> dict[str, Path]:
    """name -> path of the test bed's binaries (builds what is missing: long the first time)."""
    return paths.ensure_built()


@pytest.fixture(scope="session")
def barque_images() -> images.TestbedImages:
    """The runtime and operator images built from the project's Dockerfile (testbed/images.sh:
    a few minutes the first time, cached by a hash of their inputs afterwards)."""
    return images.ensure_images()


@pytest.fixture(scope="session")
def testbed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("testbed")


# -- control plane -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def etcd(testbed_bin: dict[str, Path], testbed_dir: Path) -> Iterator[str]:
    """The etcd client URL."""
    port, peer = cluster.free_port(), cluster.free_port()
    argv = cluster.etcd_argv(testbed_bin["etcd"], testbed_dir / "etcd", port, peer)
    url = f"http://127.0.0.1:{port}"
    proc = start_and_wait("etcd", argv, testbed_dir / "logs" / "etcd.log", http_ok(f"{url}/readyz"))
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def kube_pki(testbed_dir: Path) -> pki.Pki:
    return pki.make_pki(testbed_dir / "pki", extra_ips=(node_config.SUBNET_GATEWAY,))


@dataclass(frozen=True)
class KubeApiServer:
    url: str
    kubeconfig: Path  # admin (system:masters): the only kubeconfig tests may read
    ca_cert: Path
    process: ManagedProcess


@pytest.fixture(scope="session")
def kube_apiserver(testbed_bin: dict[str, Path], testbed_dir: Path, etcd: str,
                   kube_pki: pki.Pki) -> Iterator[KubeApiServer]:
    port = cluster.free_port()
    url = f"https://127.0.0.1:{port}"
    argv = cluster.apiserver_argv(testbed_bin["kube-apiserver"], kube_pki, etcd, port, testbed_dir / "apiserver")
    ca = ssl.create_default_context(cafile=str(kube_pki.ca_cert))
    proc = start_and_wait("kube-apiserver", argv, testbed_dir / "logs" / "kube-apiserver.log",
                          http_ok(f"{url}/readyz", ca), timeout=120)
    kubeconfig = pki.write_kubeconfig(testbed_dir / "admin.kubeconfig", url, kube_pki.ca_cert,
                                      kube_pki.admin_cert, kube_pki.admin_key)
    yield KubeApiServer(url=url, kubeconfig=kubeconfig, ca_cert=kube_pki.ca_cert, process=proc)
    proc.stop()


@pytest.fixture(scope="session")
def kubeconfig(kube_apiserver: KubeApiServer) -> Path:
    return kube_apiserver.kubeconfig


@pytest.fixture(scope="session")
def kube_controller_manager(testbed_bin: dict[str, Path], testbed_dir: Path, kube_pki: pki.Pki,
                            kube_apiserver: KubeApiServer) -> Iterator[ManagedProcess]:
    kcm_kubeconfig = pki.write_kubeconfig(testbed_dir / "kcm.kubeconfig", kube_apiserver.url, kube_pki.ca_cert,
                                          kube_pki.kcm_cert, kube_pki.kcm_key, user="kube-controller-manager")
    port = cluster.free_port()
    argv = cluster.controller_manager_argv(testbed_bin["kube-controller-manager"], kube_pki, kcm_kubeconfig,
                                           port, testbed_dir / "kcm")
    ca = ssl.create_default_context(cafile=str(kube_pki.ca_cert))
    proc = start_and_wait("kube-controller-manager", argv, testbed_dir / "logs" / "kube-controller-manager.log",
                          http_ok(f"https://127.0.0.1:{port}/healthz", ca), timeout=120)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def kube_api(kube_apiserver: KubeApiServer) -> Api:
    """A small dict-in, dict-out API client (testbed.kubeapi) using the admin kubeconfig."""
    return Api(str(kube_apiserver.kubeconfig))


@pytest.fixture(scope="session")
def kube_client(kube_apiserver: KubeApiServer) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` on the admin kubeconfig, for code that wants the official client."""
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=str(kube_apiserver.kubeconfig))
    yield api_client
    api_client.close()


@dataclass(frozen=True)
class SimNode:
    name: str
    log_dir: Path  # container logs: <ns>_<pod>_<uid>/<container>.log
    work_dir: Path
    process: ManagedProcess

    def container_log(self, pod: dict[str, Any], container: str) -> str:
        meta = pod["metadata"]
        path = self.log_dir / f"{meta['namespace']}_{meta['name']}_{meta['uid']}" / f"{container}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="session")
def sim_node(testbed_dir: Path, kube_apiserver: KubeApiServer, kube_api: Api) -> Iterator[SimNode]:
    """The simulated node (testbed/testnode), a separate process: binds and runs every Pod of the
    cluster as local processes. Only for what a real node cannot give here; see its docstring."""
    log_dir, work_dir = testbed_dir / "simnode" / "logs", testbed_dir / "simnode" / "pods"
    argv = cluster.testnode_argv(kube_apiserver.kubeconfig, SIM_NODE_NAME, log_dir, work_dir)
    proc = start_and_wait("simulated node", argv, testbed_dir / "logs" / "simnode.log",
                          lambda: cluster.node_ready(kube_api, SIM_NODE_NAME), env=cluster.testnode_env(),
                          cwd=REPO_ROOT, timeout=60)
    yield SimNode(name=SIM_NODE_NAME, log_dir=log_dir, work_dir=work_dir, process=proc)
    proc.stop()


# -- operator ------------------------------------------------------------------------------
# `barque_crds` and `operator_process` (barque's operator as a local process against this
# cluster) come from tests/integration/operator_fixtures.py, imported above for every module.

@pytest.fixture
def ready(namespace: str, store_secret: Callable[..., str], operator_process: OperatorProcess) -> str:
    """A namespace with the store Secret the operator's default store names, and the operator running."""
    store_secret(namespace)
    return namespace


# -- MinIO -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MinioServer:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str
    process: ManagedProcess

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region,
                            config=Config(s3={"addressing_style": "path"}))

    def env(self) -> dict[str, str]:
        """The standard AWS settings barque's S3 backend (boto3) reads."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": self.region}


@pytest.fixture(scope="session")
def minio(testbed_bin: dict[str, Path], testbed_dir: Path) -> Iterator[MinioServer]:
    port = cluster.free_port()
    access, secret = "testbed-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    env = {**os.environ, "MINIO_ROOT_USER": access, "MINIO_ROOT_PASSWORD": secret, "MINIO_BROWSER": "off",
           "MINIO_UPDATE": "off", "MINIO_CI_CD": "1"}
    url = f"http://127.0.0.1:{port}"
    proc = start_and_wait("minio", cluster.minio_argv(testbed_bin["minio"], testbed_dir / "minio", port),
                          testbed_dir / "logs" / "minio.log", http_ok(f"{url}/minio/health/ready"), env=env)
    server = MinioServer(endpoint_url=url, access_key=access, secret_key=secret, bucket="barque-test",
                         region="us-east-1", process=proc)
    server.client().create_bucket(Bucket=server.bucket)
    yield server
    proc.stop()


@pytest.fixture(scope="session")
def store_secret(minio: MinioServer, kube_api: Api) -> Callable[..., str]:
    """store_secret(namespace, name="barque-store") creates the Secret barque pods use for MinIO."""

    def create(namespace: str, name: str = "barque-store") -> str:
        kube_api.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body={
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": minio.env()})
        return name

    return create


# -- CLI tools ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def kubectl(testbed_bin: dict[str, Path], kube_apiserver: KubeApiServer, testbed_dir: Path) -> cluster.Tool:
    """kubectl(*args, input=None, check=True) -> CompletedProcess; raises ToolError with stderr."""
    home = testbed_dir / "kubectl-home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(kube_apiserver.kubeconfig)}
    return cluster.Tool(testbed_bin["kubectl"], ["--kubeconfig", str(kube_apiserver.kubeconfig)], env)


@pytest.fixture(scope="session")
def helm(testbed_bin: dict[str, Path], kube_apiserver: KubeApiServer, testbed_dir: Path) -> cluster.Tool:
    """helm(*args, ...) with its cache, config and data homes in temp dirs."""
    home = testbed_dir / "helm-home"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(kube_apiserver.kubeconfig)}
    for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"), ("HELM_DATA_HOME", "data")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    return cluster.Tool(testbed_bin["helm"], ["--kubeconfig", str(kube_apiserver.kubeconfig)], env)


@pytest.fixture
def barque_cli(kube_apiserver: KubeApiServer, minio: MinioServer,
               tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """barque_cli(*args, timeout=180): the `barque` command with the test bed's kubeconfig and
    MinIO's credentials in its environment, nothing else (as a user's shell would have them)."""
    from tests.integration.operator_fixtures import barque_executable

    home = tmp_path / "cli-home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home),
           "KUBECONFIG": str(kube_apiserver.kubeconfig), **minio.env()}

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([barque_executable(), *args], capture_output=True, text=True, env=env, timeout=timeout)

    return run


# -- per test ---------------------------------------------------------------------------------

@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube_api: Api, kube_apiserver: KubeApiServer,
              kube_controller_manager: ManagedProcess) -> Iterator[str]:
    """A fresh namespace whose `default` ServiceAccount exists (Pods can be created; a node to run
    them is the test's to ask for: `sim_node`); deleted after."""
    for part in (kube_apiserver.process, kube_controller_manager):
        part.check_alive()  # a crashed part fails here with its log, not later with a timeout
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = create_namespace(kube_api, f"{stem}-{uuid.uuid4().hex[:6]}")
    yield name
    try:
        kube_api.request("DELETE", f"/api/v1/namespaces/{name}")
    except ApiError as err:
        if err.status != 404:
            raise
