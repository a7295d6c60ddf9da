"""Fixtures that run barque's operator against the test bed, the way a user runs it.

`barque_crds` applies the generated CRDs with the test bed's kubectl (once per session).
`operator_process` starts `barque operator` (the venv's console script) as a separate process
with only the test bed's kubeconfig and MinIO's AWS_* settings in its environment, waits for
its /healthz, and stops it after the test; `.kill()` and `.start()` restart it mid-test.
Import both into tests/integration/conftest.py (``from tests.integration.operator_fixtures import *``).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testbed import cluster
from testbed.procs import ManagedProcess, http_ok, start_and_wait, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_NAMES = ("pipelines.barque.dev", "pipelineruns.barque.dev")
RUNTIME_IMAGE = "barque-runtime:dev"
STORE_SECRET = "barque-store"

__all__ = ["OperatorProcess", "barque_crds", "make_operator", "operator_process"]


def barque_executable() -> str:
    """The `barque` console script of the interpreter running the tests (the project's venv)."""
    candidate = Path(sys.executable).parent / "barque"
    found = str(candidate) if candidate.exists() else shutil.which("barque")
    if not found:
        raise RuntimeError(f"no `barque` script next to {sys.executable}: pip install -e '.[operator,s3]'")
    return found


@pytest.fixture(scope="session")
def barque_crds(kubectl: cluster.Tool) -> tuple[str, ...]:
    """Apply crds/*.yaml as a user would and wait until the API server serves them."""
    kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))

    def established() -> bool:
        # `kubectl wait` fails at once, rather than waiting, on a CRD whose status has no
        # conditions yet (the API server has not looked at it): seen when the tier starts busy.
        proc = kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in CRD_NAMES), check=False)
        return proc.returncode == 0

    wait_until(established, 60, "the barque CRDs to be Established")
    return CRD_NAMES


@dataclass
class OperatorProcess:
    """One `barque operator` process at a time; restartable within a test."""

    argv: list[str]
    env: dict[str, str]
    log_dir: Path
    health_port: int
    metrics_port: int
    store_uri: str
    starts: int = 0
    process: ManagedProcess | None = field(default=None, repr=False)

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/healthz"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    def start(self) -> "OperatorProcess":
        assert self.process is None, "the operator is already running"
        self.starts += 1
        self.process = start_and_wait("barque operator", self.argv, self.log_path, http_ok(self.health_url),
                                      env=self.env, cwd=self.log_dir, timeout=60)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies under the operator."""
        if self.process is not None:
            self.process._signal(signal.SIGKILL)
            self.process.stop(grace=1)
            self.process = None

    def restart(self) -> "OperatorProcess":
        self.stop()
        return self.start()

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("operator-*.log")))

    def log_tail(self) -> str:
        """The last lines of the logs, for a failure's message (``wait_run(..., diagnose=op.log_tail)``)."""
        return self.logs()[-6000:]


def make_operator(kube_apiserver: Any, minio: Any, tmp_path: Path, log_dir: Path | None = None,
                  **env: str) -> OperatorProcess:
    """`barque operator` (not started) watching every namespace, with MinIO as its default store
    (secret `barque-store`; one per test, so replicas made with the same ``tmp_path`` share it);
    ``env`` adds variables."""
    health, metrics = cluster.free_port(), cluster.free_port()
    home = tmp_path / "operator-home"
    home.mkdir(exist_ok=True)
    store_uri = f"s3://{minio.bucket}/operator-{tmp_path.name}"
    full_env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]),
        "HOME": str(home),
        "KUBECONFIG": str(kube_apiserver.kubeconfig),
        **minio.env(),
        "BARQUE_DEFAULT_IMAGE": RUNTIME_IMAGE,
        "BARQUE_DEFAULT_STORE": store_uri,
        "BARQUE_DEFAULT_STORE_SECRET": STORE_SECRET,
        "BARQUE_RESYNC_SECONDS": "5",
        "BARQUE_SCHEDULE_SECONDS": "2",
        **env,
    }
    argv = [barque_executable(), "operator", "--metrics-port", str(metrics), "--health-port", str(health)]
    return OperatorProcess(argv=argv, env=full_env, log_dir=log_dir or tmp_path, health_port=health, metrics_port=metrics,
                           store_uri=store_uri)


@pytest.fixture
def operator_process(barque_crds: tuple[str, ...], kube_apiserver: Any, kube_controller_manager: Any,
                     sim_node: Any, minio: Any, tmp_path: Path) -> Iterator[OperatorProcess]:
    """`barque operator` watching every namespace, with MinIO as its default store (secret `barque-store`)."""
    op = make_operator(kube_apiserver, minio, tmp_path).start()
    try:
        yield op
    finally:
        op.stop()
