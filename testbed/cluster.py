"""Command lines for the test bed's servers and a runner for its CLI tools (kubectl, helm).

Pure builders: each returns an argv for a server listening only on 127.0.0.1. The fixtures in
tests/integration/conftest.py start them with testbed.procs and wire them together.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .kubeapi import Api
from .paths import REPO_ROOT
from .pki import Pki

SERVICE_CIDR = "10.0.0.0/24"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
# What the controller manager runs: enough for Jobs, their Pods and garbage, namespaces and their
# default ServiceAccount (without which the ServiceAccount admission plugin rejects new Pods).
CONTROLLERS = ("job-controller", "garbage-collector-controller", "namespace-controller",
               "serviceaccount-controller", "serviceaccount-token-controller",
               "root-ca-certificate-publisher-controller", "ttl-after-finished-controller")
# The real node's tier installs the chart: its operator is a Deployment, and its metrics Service
# is read through the API server's service proxy (which needs the Service's endpoints).
REAL_NODE_CONTROLLERS = (*CONTROLLERS, "deployment-controller", "replicaset-controller",
                         "endpoints-controller", "endpointslice-controller",
                         # lifts the not-ready taint a kubelet registers its Node with
                         "node-lifecycle-controller")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def etcd_argv(binary: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [str(binary), "--name=testbed", f"--data-dir={data_dir}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=testbed={peer}", "--initial-cluster-state=new",
            "--unsafe-no-fsync=true",  # a throwaway store: speed over durability
            "--log-level=warn"]


def apiserver_argv(binary: Path, pki: Pki, etcd_url: str, port: int, cert_dir: Path) -> list[str]:
    return [str(binary), f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--cert-dir={cert_dir}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={SA_ISSUER}", f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--authorization-mode=RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            # For `kubectl logs` through a real kubelet, which trusts the test bed's CA (admin is
            # system:masters; the simulated node serves no kubelet API, so it ignores these).
            f"--kubelet-client-certificate={pki.admin_cert}", f"--kubelet-client-key={pki.admin_key}",
            "--kubelet-preferred-address-types=InternalIP",  # the Node's name resolves nowhere
            # The `kubernetes` Service's endpoints cannot be a loopback address; nothing here needs them.
            "--endpoint-reconciler-type=none",
            "--profiling=false", "--v=1"]


def controller_manager_argv(binary: Path, pki: Pki, kubeconfig: Path, port: int, cert_dir: Path,
                            controllers: Sequence[str] = CONTROLLERS) -> list[str]:
    # No --authentication/authorization-kubeconfig: only /healthz (always allowed) is served to us.
    return [str(binary), f"--kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", f"--cert-dir={cert_dir}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--root-ca-file={pki.ca_cert}", f"--service-account-private-key-file={pki.sa_key}",
            f"--controllers={','.join(controllers)}", "--profiling=false", "--v=1"]


def minio_argv(binary: Path, data_dir: Path, port: int) -> list[str]:
    return [str(binary), "server", "--quiet", "--address", f"127.0.0.1:{port}", str(data_dir)]


def testnode_argv(kubeconfig: Path, name: str, log_dir: Path, work_dir: Path,
                  namespaces: Iterable[str] = ()) -> list[str]:
    """The test node under this interpreter, so `barque` and `python3` in pods are this environment's."""
    argv = [sys.executable, "-m", "testbed.testnode", "--kubeconfig", str(kubeconfig), "--node-name", name,
            "--log-dir", str(log_dir), "--work-dir", str(work_dir)]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    return argv


def testnode_env() -> dict[str, str]:
    """This process's environment with the repository root importable (for `-m testbed.testnode`)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}


def node_ready(api: Api, name: str) -> bool:
    node = api.get_or_none(f"/api/v1/nodes/{name}")
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


class ToolError(RuntimeError):
    """A CLI tool exited non-zero; the message has its command line and stderr."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"{' '.join(map(str, proc.args))} exited {proc.returncode}\n"
                         f"stderr:\n{proc.stderr}\nstdout:\n{proc.stdout[-2000:]}")
        self.proc = proc


class Tool:
    """Run one CLI with fixed leading arguments and environment: tool("get", "pods", "-o", "json")."""

    def __init__(self, binary: Path, base_args: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> None:
        self.binary, self.base_args, self.env, self.timeout = binary, list(base_args), dict(env), timeout

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.binary), *self.base_args, *map(str, args)], input=input,
                              capture_output=True, text=True, env=self.env, timeout=timeout or self.timeout)
        if check and proc.returncode != 0:
            raise ToolError(proc)
        return proc
