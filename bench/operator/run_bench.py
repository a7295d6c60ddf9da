#!/usr/bin/env python
"""Benchmark barque's Kubernetes operator on the integration test bed.

    .venv/bin/python bench/operator/run_bench.py [--runs N] [--concurrent 100]

Starts etcd, kube-apiserver (with an audit log), kube-controller-manager, the test node, MinIO and
`barque operator` as separate processes (through testbed/* helpers, the same ones the pytest
fixtures call), then runs two scenarios, each bounded in time:

- sequential: N runs of a 3-phase diamond pipeline (phase 0: one step; phase 1: two streams;
  phase 2: one step), `noCache: true`, one at a time. Measures run creation -> first Job,
  Job completion -> next phase's Job, and API requests per run.
- concurrent: M PipelineRuns of examples/quickstart/pipeline.yaml (`noCache: true`) created at
  once; waits until all have ended. Measures the wall time, outcomes, and the operator's memory.

Timing source: one watch per resource kind (PipelineRuns, Jobs, Pods) in this process, stamped
with local receive times (time.time(), sub-millisecond); API timestamps (1 s resolution) are not
used for latencies. The audit log's server-side timestamps (microseconds) cross-check creation
times. API requests are counted from the audit log by user (the operator, this harness, the test
node and the controller manager each have their own credentials) and from the API server's
`apiserver_request_total` metric (all clients together).

Prints a table and writes bench/operator/results.json. Not a pytest test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import yaml  # noqa: E402

from testbed import cluster, faults, paths, pki  # noqa: E402
from testbed.kubeapi import Api, ApiError  # noqa: E402
from testbed.procs import HealthCheck, ManagedProcess, http_ok, start_and_wait, wait_until  # noqa: E402
from tests.integration.operator_fixtures import (  # noqa: E402
    CRD_NAMES,
    RUNTIME_IMAGE,
    STORE_SECRET,
    OperatorProcess,
    barque_executable,
)

# The sequential scenario's pipeline is the operator tests' QUICK diamond: three phases, `numbers`
# alone, then `doubled` and `total` in two streams, then `report`.
from tests.integration.runs import DONE, PIPELINES, QUICK, RUNS, compile_pipeline, create_namespace, create_run  # noqa: E402,F401  (RUNS: for checks.py)

HERE = Path(__file__).resolve().parent
NODE_NAME = "testnode"
SERVED_NAMESPACES = ("bench-seq", "bench-concurrent")  # not bench-idle
TARGET_MS = 300.0
TARGET_RSS_MB = 200.0
TARGET_FIRST_JOB_P50_MS = 1000.0  # under the concurrent load
TARGET_FIRST_JOB_P99_MS = 10000.0
TARGET_REQUESTS_PER_PHASE = 10.0

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
"""


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# -- the test bed ---------------------------------------------------------------------------------


def client_cert(kp: pki.Pki, stem: str, cn: str) -> tuple[Path, Path]:
    """A client certificate of our own CA for user `cn` (group system:masters), so the audit log
    tells this client's requests from the others'. Uses testbed.pki's signing helpers."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_key = serialization.load_pem_private_key(kp.ca_key.read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(kp.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = pki._sign(pki._name(cn, "system:masters"), key, ca_cert.subject, ca_key,  # type: ignore[arg-type]
                     usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return pki._pair(kp.dir, stem, cert, key)


@dataclass
class Minio:
    url: str
    access_key: str
    secret_key: str
    bucket: str = "barque-bench"
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": self.region}

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region,
                            config=Config(s3={"addressing_style": "path"}))


@dataclass
class Testbed:
    dir: Path
    procs: list[ManagedProcess] = field(default_factory=list)
    api_url: str = ""
    kp: pki.Pki | None = None
    kubeconfigs: dict[str, Path] = field(default_factory=dict)  # role -> kubeconfig
    certs: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    audit_log: Path | None = None
    minio: Minio | None = None
    kubectl: cluster.Tool | None = None
    parts: dict[str, tuple[ManagedProcess, HealthCheck]] = field(default_factory=dict)  # by name, for restarts

    def _start(self, name: str, argv: list[str], check: HealthCheck, **kwargs: Any) -> None:
        proc = start_and_wait(name, argv, self.dir / "logs" / f"{name}.log", check, **kwargs)
        self.procs.append(proc)
        self.parts[name] = (proc, check)

    def restart(self, name: str, down_seconds: float, sig: signal.Signals = signal.SIGTERM) -> float:
        """Stop part ``name``, keep it down ``down_seconds``, start it again on the same ports and
        data (``testbed.faults.restart``); the seconds until it was healthy."""
        proc, check = self.parts[name]
        return faults.restart(proc, check, down_seconds, sig)

    def start(self) -> None:
        binaries = paths.ensure_built()
        port, peer = cluster.free_port(), cluster.free_port()
        etcd_url = f"http://127.0.0.1:{port}"
        self._start("etcd", cluster.etcd_argv(binaries["etcd"], self.dir / "etcd", port, peer), http_ok(f"{etcd_url}/readyz"))
        kp = self.kp = pki.make_pki(self.dir / "pki")
        ca = ssl.create_default_context(cafile=str(kp.ca_cert))

        port = cluster.free_port()
        self.api_url = f"https://127.0.0.1:{port}"
        policy = self.dir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        self.audit_log = self.dir / "audit.log"
        argv = cluster.apiserver_argv(binaries["kube-apiserver"], kp, etcd_url, port, self.dir / "apiserver") + [
            f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-format=json"]
        self._start("kube-apiserver", argv, http_ok(f"{self.api_url}/readyz", ca), timeout=120)
        admin = pki.write_kubeconfig(self.dir / "admin.kubeconfig", self.api_url, kp.ca_cert, kp.admin_cert, kp.admin_key)
        self.kubeconfigs["node"] = admin  # the test node keeps the admin credentials, as in the fixtures
        for role, cn in (("bench", "barque-bench"), ("operator", "barque-operator")):
            self.certs[role] = client_cert(kp, role, cn)
            self.kubeconfigs[role] = pki.write_kubeconfig(self.dir / f"{role}.kubeconfig", self.api_url, kp.ca_cert,
                                                          *self.certs[role], user=cn)

        kcm_cfg = pki.write_kubeconfig(self.dir / "kcm.kubeconfig", self.api_url, kp.ca_cert, kp.kcm_cert, kp.kcm_key,
                                       user="kube-controller-manager")
        port = cluster.free_port()
        argv = cluster.controller_manager_argv(binaries["kube-controller-manager"], kp, kcm_cfg, port, self.dir / "kcm")
        # The resource-quota controller frees a pod's quota once it ends: the concurrent scenario's
        # cap on running Pods (see Bench.concurrent) is a ResourceQuota.
        argv = [a + ",resourcequota-controller" if a.startswith("--controllers=") else a for a in argv]
        self._start("kube-controller-manager", argv, http_ok(f"https://127.0.0.1:{port}/healthz", ca), timeout=120)

        node_api = Api(str(admin))
        # The idle scenario's namespace is not served: its Pods stay Pending, its Jobs stay active,
        # and its runs wait on them as on a long step (the operator does not watch Pods).
        argv = cluster.testnode_argv(admin, NODE_NAME, self.dir / "node" / "logs", self.dir / "node" / "pods",
                                     namespaces=SERVED_NAMESPACES)
        self._start("testnode", argv, lambda: cluster.node_ready(node_api, NODE_NAME), env=cluster.testnode_env(),
                    cwd=REPO_ROOT, timeout=60)

        port = cluster.free_port()
        minio = self.minio = Minio(url=f"http://127.0.0.1:{port}", access_key="bench-" + secrets.token_hex(4),
                                   secret_key=secrets.token_urlsafe(24))
        env = {**os.environ, "MINIO_ROOT_USER": minio.access_key, "MINIO_ROOT_PASSWORD": minio.secret_key,
               "MINIO_BROWSER": "off", "MINIO_UPDATE": "off", "MINIO_CI_CD": "1"}
        self._start("minio", cluster.minio_argv(binaries["minio"], self.dir / "minio", port),
                    http_ok(f"{minio.url}/minio/health/ready"), env=env)
        minio.client().create_bucket(Bucket=minio.bucket)

        home = self.dir / "kubectl-home"
        home.mkdir(exist_ok=True)
        bench_cfg = self.kubeconfigs["bench"]
        self.kubectl = cluster.Tool(binaries["kubectl"], ["--kubeconfig", str(bench_cfg)],
                                    {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(bench_cfg)})
        self.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
        api = self.api()
        # Not `kubectl wait`: it fails at once on a CRD whose status has no conditions yet.
        wait_until(lambda: all(any(c.get("type") == "Established" and c.get("status") == "True"
                                   for c in ((api.get_or_none(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{n}") or {})
                                             .get("status") or {}).get("conditions") or ())
                               for n in CRD_NAMES), timeout=60, what="the CRDs Established")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(grace=5)
        self.procs.clear()

    def api(self) -> Api:
        return Api(str(self.kubeconfigs["bench"]))

    def operator(self, resync: float | None, source: Path | None = None, name: str = "operator") -> OperatorProcess:
        """`barque operator` with its own credentials, the chart's defaults unless --resync is given;
        `source`: another checkout whose operator/ package is imported instead (for A/B runs)."""
        assert self.minio is not None
        health, metrics = cluster.free_port(), cluster.free_port()
        home = self.dir / "operator-home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]),
            "HOME": str(home),
            "KUBECONFIG": str(self.kubeconfigs["operator"]),
            **self.minio.env(),
            "BARQUE_DEFAULT_IMAGE": RUNTIME_IMAGE,
            "BARQUE_DEFAULT_STORE": f"s3://{self.minio.bucket}/operator",
            "BARQUE_DEFAULT_STORE_SECRET": STORE_SECRET,
        }
        if resync is not None:
            env["BARQUE_RESYNC_SECONDS"] = str(resync)
        if source is not None:  # PYTHONPATH comes before the editable install's finder
            env["PYTHONPATH"] = str(source.resolve() / "operator")
        argv = [barque_executable(), "operator", "--metrics-port", str(metrics), "--health-port", str(health)]
        return OperatorProcess(argv=argv, env=env, log_dir=self.dir / name, health_port=health,
                               metrics_port=metrics, store_uri=env["BARQUE_DEFAULT_STORE"])

    def floor(self) -> OperatorProcess:
        """The ideal operator (``floor.py``) in place of `barque operator`, with the operator's credentials
        (so the audit log counts its requests as the operator's)."""
        health = cluster.free_port()
        home = self.dir / "floor-home"
        home.mkdir(exist_ok=True)
        argv = [sys.executable, str(HERE / "floor.py"), "--kubeconfig", str(self.kubeconfigs["operator"]),
                "--health-port", str(health), "--image", RUNTIME_IMAGE]
        return OperatorProcess(argv=argv, env={"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home)},
                               log_dir=self.dir / "floor", health_port=health, metrics_port=0, store_uri="")

    def namespace(self, api: Api, name: str) -> str:
        assert self.minio is not None
        create_namespace(api, name)
        api.request("POST", f"/api/v1/namespaces/{name}/secrets", body={
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": STORE_SECRET}, "stringData": self.minio.env()})
        return name

    def metrics_text(self) -> str:
        ctx = ssl.create_default_context(cafile=str(self.kp.ca_cert))  # type: ignore[union-attr]
        ctx.load_cert_chain(*map(str, self.certs["bench"]))
        with urllib.request.urlopen(f"{self.api_url}/metrics", context=ctx, timeout=30) as resp:
            return str(resp.read().decode())


# -- observing: watches with local receive times --------------------------------------------------


@dataclass
class RunObs:
    added: float | None = None
    ended: float | None = None
    phase: str | None = None


@dataclass
class JobObs:
    run: str
    phase: int
    added: float
    ended: float | None = None
    outcome: str | None = None


@dataclass
class PodObs:
    job: str
    ended: float | None = None


class Recorder:
    """Watches PipelineRuns, Jobs and Pods in every namespace; stamps each change with time.time()."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.runs: dict[tuple[str, str], RunObs] = {}
        self.jobs: dict[tuple[str, str], JobObs] = {}
        self.pods: dict[tuple[str, str], PodObs] = {}
        self.job_uids: dict[tuple[str, str], set[str]] = {}  # a name seen with two uids: a Job made twice
        self.ready = threading.Barrier(4)

    def start(self) -> None:
        for path, handle in (("/apis/barque.dev/v1alpha1/pipelineruns", self._run),
                             ("/apis/batch/v1/jobs", self._job), ("/api/v1/pods", self._pod)):
            threading.Thread(target=self._loop, args=(path, handle), daemon=True, name=f"watch {path}").start()
        self.ready.wait(timeout=60)

    def _loop(self, path: str, handle: Callable[[str, dict[str, Any], float], None]) -> None:
        api, version, first = Api(str(self.kubeconfig)), None, True
        while not self.stop.is_set():
            try:
                if version is None:
                    listing = api.request("GET", path)
                    version = listing["metadata"]["resourceVersion"]
                    for item in listing.get("items") or []:
                        handle("LISTED", item, time.time())
                    if first:
                        first = False
                        self.ready.wait(timeout=60)
                for event in api.watch(path, version, 20):
                    now = time.time()
                    if event["type"] == "ERROR":
                        version = None
                        break
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        handle(event["type"], event["object"], now)
            except Exception as err:  # noqa: BLE001 -- a broken watch is re-listed, and said so
                if not self.stop.is_set():
                    log(f"watch {path} interrupted ({err}); relisting")
                version = None
                time.sleep(0.5)

    def _run(self, kind: str, obj: dict[str, Any], now: float) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        with self.cond:
            obs = self.runs.setdefault(key, RunObs())
            if kind == "ADDED" and obs.added is None:
                obs.added = now
            phase = (obj.get("status") or {}).get("phase")
            obs.phase = phase
            if phase in DONE and obs.ended is None:
                obs.ended = now
            self.cond.notify_all()

    def _job(self, kind: str, obj: dict[str, Any], now: float) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        labels = meta.get("labels") or {}
        with self.cond:
            self.job_uids.setdefault(key, set()).add(meta["uid"])
            obs = self.jobs.get(key)
            if obs is None:
                obs = self.jobs[key] = JobObs(run=labels.get("barque.dev/run", ""),
                                              phase=int(labels.get("barque.dev/phase", "-1")), added=now)
            for cond in (obj.get("status") or {}).get("conditions") or ():
                if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed") and obs.ended is None:
                    obs.ended, obs.outcome = now, cond["type"]
            self.cond.notify_all()

    def _pod(self, kind: str, obj: dict[str, Any], now: float) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        with self.cond:
            obs = self.pods.setdefault(key, PodObs(job=(meta.get("labels") or {}).get("batch.kubernetes.io/job-name", "")))
            if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed") and obs.ended is None:
                obs.ended = now

    def wait_runs(self, ns: str, names: list[str], deadline: float) -> bool:
        with self.cond:
            return self.cond.wait_for(
                lambda: all((self.runs.get((ns, n)) or RunObs()).ended is not None for n in names),
                timeout=max(0.0, deadline - time.time()))

    def latencies(self, ns: str, names: list[str]) -> dict[str, list[float]]:
        """Per run: creation -> first Job; per later phase: previous Job done -> this Job (milliseconds)."""
        first, after_job, after_pod, job_ctl = [], [], [], []
        with self.cond:
            for name in names:
                run = self.runs.get((ns, name))
                jobs = sorted((j for (jns, _), j in self.jobs.items() if jns == ns and j.run == name),
                              key=lambda j: j.phase)
                by_phase = {j.phase: (jname, j) for (jns, jname), j in self.jobs.items()
                            if jns == ns and j.run == name}
                if run and run.added and jobs:
                    first.append((jobs[0].added - run.added) * 1000)
                for phase, (_, job) in sorted(by_phase.items()):
                    prev = by_phase.get(phase - 1)
                    if prev is None or prev[1].ended is None:
                        continue
                    after_job.append((job.added - prev[1].ended) * 1000)
                    pod_ends = [p.ended for (pns, _), p in self.pods.items()
                                if pns == ns and p.job == prev[0] and p.ended is not None]
                    if pod_ends:
                        after_pod.append((job.added - max(pod_ends)) * 1000)
                        job_ctl.append((prev[1].ended - max(pod_ends)) * 1000)
        return {"run_created_to_first_job_ms": first, "job_complete_to_next_job_ms": after_job,
                "last_pod_finished_to_next_job_ms": after_pod, "last_pod_finished_to_job_complete_ms": job_ctl}


class MemorySampler:
    """RSS of one process from /proc every `interval` seconds, plus the kernel's high-water mark."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []  # (time, RSS MiB)
        self.hwm_mb = 0.0
        self.stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True, name="memory").start()

    def _read(self) -> dict[str, float]:
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
        return out

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                values = self._read()
            except OSError:
                return
            self.samples.append((time.time(), values["VmRSS"]))
            self.hwm_mb = max(self.hwm_mb, values["VmHWM"])

    def peak(self, since: float = 0.0) -> float:
        return max((rss for t, rss in self.samples if t >= since), default=0.0)

    def rss_at(self, when: float) -> float:
        return min(self.samples, key=lambda s: abs(s[0] - when), default=(0.0, 0.0))[1]

    def timeline(self, start: float, step: float = 1.0) -> list[tuple[float, float]]:
        """(seconds since start, max RSS MiB in that step) for the whole life of the sampler."""
        buckets: dict[int, float] = {}
        for t, rss in self.samples:
            key = int((t - start) // step)
            buckets[key] = max(buckets.get(key, 0.0), rss)
        return [(round(k * step, 1), round(v, 1)) for k, v in sorted(buckets.items())]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- counting API requests ------------------------------------------------------------------------


def audit_entries(path: Path, since: float, until: float) -> Iterator[dict[str, Any]]:
    """One entry per request (first stage logged) received in [since, until]."""
    seen: set[str] = set()
    with open(path, errors="replace") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("auditID") in seen:
                continue
            seen.add(entry.get("auditID"))
            received = datetime.fromisoformat(entry["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
            if since <= received <= until:
                yield entry


def who(username: str) -> str:
    if username == "barque-operator":
        return "operator"
    if username == "barque-bench":
        return "bench harness"
    if username == "barque-testbed-admin":
        return "test node"
    if username.startswith("system:serviceaccount:kube-system:") or username == "system:kube-controller-manager":
        return "controller manager"
    return "other (" + username + ")"


def request_counts(audit: Path, since: float, until: float) -> dict[str, Any]:
    """Requests received in the window, by client; the operator's also by verb and resource."""
    by_client: Counter[str] = Counter()
    watches: Counter[str] = Counter()
    operator: Counter[str] = Counter()
    for e in audit_entries(audit, since, until):
        client = who((e.get("user") or {}).get("username", ""))
        if e.get("verb") == "watch":
            watches[client] += 1
            continue
        by_client[client] += 1
        if client == "operator":
            ref = e.get("objectRef") or {}
            resource = ref.get("resource", e.get("requestURI", "?")) + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            operator[f"{e['verb']} {resource}"] += 1
    return {"non_watch_by_client": dict(by_client), "watch_calls_by_client": dict(watches),
            "operator_by_verb_resource": dict(operator.most_common())}


def apiserver_total(text: str) -> dict[str, float]:
    """apiserver_request_total summed over everything, and without WATCH."""
    from prometheus_client.parser import text_string_to_metric_families

    total = no_watch = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "apiserver_request_total":
                total += sample.value
                if sample.labels.get("verb") not in ("WATCH", "WATCHLIST"):
                    no_watch += sample.value
    return {"all": total, "no_watch": no_watch}


# -- scenarios ------------------------------------------------------------------------------------


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "median": round(statistics.median(ordered), 1), "min": round(ordered[0], 1),
            "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
            "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1), "max": round(ordered[-1], 1)}


@dataclass
class Bench:
    bed: Testbed
    api: Api
    rec: Recorder
    op: OperatorProcess
    mem: MemorySampler

    def run_phases(self, ns: str, names: list[str]) -> Counter[str]:
        with self.rec.cond:
            return Counter((self.rec.runs.get((ns, n)) or RunObs()).phase or "none" for n in names)

    def window(self, ns: str, names: list[str], start: float, end: float, cpu0: float) -> dict[str, Any]:
        assert self.bed.audit_log is not None
        n = max(1, len(names))
        counts = request_counts(self.bed.audit_log, start, end)
        op_requests = counts["non_watch_by_client"].get("operator", 0)
        return {
            "outcomes": dict(self.run_phases(ns, names)),
            "requests": counts,
            "operator_requests_per_run": round(op_requests / n, 1),
            "operator_cpu_seconds": round(cpu_seconds(self.op.process.pid) - cpu0, 2),  # type: ignore[union-attr]
            "operator_rss_mb_at_start_and_end": [round(self.mem.rss_at(start), 1), round(self.mem.rss_at(end), 1)],
        }

    def sequential(self, runs: int, timeout_per_run: float) -> dict[str, Any]:
        ns = self.bed.namespace(self.api, "bench-seq")
        self.api.request("POST", PIPELINES.format(ns=ns), body=compile_pipeline(self.bed.dir, QUICK, "diamond"))
        # One warm-up run (not measured): first imports, first store writes, TLS sessions.
        create_run(self.api, ns, "warmup", "diamond", noCache=True)
        self.rec.wait_runs(ns, ["warmup"], time.time() + 180)
        names: list[str] = []
        metrics0 = apiserver_total(self.bed.metrics_text())
        cpu0 = cpu_seconds(self.op.process.pid)  # type: ignore[union-attr]
        load0, start = loadavg(), time.time()
        for i in range(runs):
            name = f"diamond-{i}"
            names.append(name)
            create_run(self.api, ns, name, "diamond", noCache=True)
            if not self.rec.wait_runs(ns, [name], time.time() + timeout_per_run):
                log(f"  {name} did not end within {timeout_per_run:.0f}s; stopping the scenario")
                break
            log(f"  {name}: {self.run_phases(ns, [name]).most_common(1)[0][0]}")
        end = time.time()
        time.sleep(1)  # the last status writes land in the audit log
        metrics1 = apiserver_total(self.bed.metrics_text())
        out = self.window(ns, names, start, end, cpu0)
        out.update({
            "runs": len(names), "pipeline": "diamond (3 phases: 1 + 2 + 1 pods, 4 steps)", "wall_seconds": round(end - start, 1),
            "loadavg_before": load0, "loadavg_after": loadavg(),
            "apiserver_requests_per_run": {k: round((metrics1[k] - metrics0[k]) / max(1, len(names)), 1) for k in metrics0},
            "latency_ms": {k: stats(v) for k, v in self.rec.latencies(ns, names).items()},
            "latency_samples_ms": {k: [round(x, 1) for x in v] for k, v in self.rec.latencies(ns, names).items()},
            "audit_first_job_ms": stats(self.audit_first_job(ns, names, start, end)),
        })
        return out

    def audit_first_job(self, ns: str, names: list[str], start: float, end: float) -> list[float]:
        """Cross-check from the audit log: the run's create received -> its first Job's create received."""
        assert self.bed.audit_log is not None
        run_created: dict[str, float] = {}
        job_created: dict[str, float] = {}
        for e in audit_entries(self.bed.audit_log, start - 1, end + 1):
            ref = e.get("objectRef") or {}
            if e.get("verb") != "create" or ref.get("namespace") != ns or (e.get("responseStatus") or {}).get("code") != 201:
                continue
            t = datetime.fromisoformat(e["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
            if ref.get("resource") == "pipelineruns":
                run_created[ref.get("name") or ""] = t
            elif ref.get("resource") == "jobs" and ref.get("name"):
                run = ref["name"].rsplit("-p", 1)[0]
                job_created[run] = min(t, job_created.get(run, t))
        # For create, the audit objectRef may lack a name (generateName): run names come from the harness order.
        return [(job_created[n] - run_created[n]) * 1000 for n in names if n in run_created and n in job_created]

    def concurrent(self, count: int, timeout: float, pod_cap: int) -> dict[str, Any]:
        ns = self.bed.namespace(self.api, "bench-concurrent")
        # The test node runs every Pod as a local process: a thousand at once would not fit in memory.
        # A ResourceQuota caps the Pods not yet ended; the Job controller retries the others (backing
        # off up to a minute), so Jobs are created at once and their Pods run as slots free up.
        if pod_cap > 0:
            self.api.request("POST", f"/api/v1/namespaces/{ns}/resourcequotas", body={
                "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods"},
                "spec": {"hard": {"pods": str(pod_cap)}}})
        manifest = yaml.safe_load((REPO_ROOT / "examples" / "quickstart" / "pipeline.yaml").read_text())
        self.api.request("POST", PIPELINES.format(ns=ns), body=manifest)
        names = [f"quickstart-{i}" for i in range(count)]
        metrics0 = apiserver_total(self.bed.metrics_text())
        cpu0 = cpu_seconds(self.op.process.pid)  # type: ignore[union-attr]
        load0, start = loadavg(), time.time()
        # Created "at once": as fast as 8 client threads get them through the API server.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda name: create_run(self.api, ns, name, "quickstart", noCache=True), names))
        created = time.time()
        log(f"  created {count} runs in {created - start:.1f}s")
        deadline, loads = start + timeout, [loadavg()]
        while not self.rec.wait_runs(ns, names, min(deadline, time.time() + 30)) and time.time() < deadline:
            loads.append(loadavg())
            log(f"  {dict(self.run_phases(ns, names))}; operator RSS {self.mem.samples[-1][1]:.0f} MiB, load {loads[-1][0]}")
        end = time.time()
        timed_out = not self.rec.wait_runs(ns, names, end)
        time.sleep(1)
        metrics1 = apiserver_total(self.bed.metrics_text())
        with self.rec.cond:
            ended = [t for n in names if (t := (self.rec.runs.get((ns, n)) or RunObs()).ended) is not None]
        out = self.window(ns, names, start, end, cpu0)
        out.update({
            "runs": count, "pipeline": "examples/quickstart (1 phase, 1 pod, 2 steps)", "pod_cap": pod_cap,
            "seconds_to_create_all_runs": round(created - start, 1),
            "timed_out": timed_out, "timeout_seconds": timeout,
            "wall_seconds_to_last_end": round(max(ended) - start, 1) if ended else None,
            "loadavg_before": load0, "loadavg_max_1m": max(x[0] for x in loads + [loadavg()]),
            "loadavg_after": loadavg(),
            "operator_rss_peak_mb": round(self.mem.peak(since=start), 1),
            "operator_vmhwm_mb": round(self.mem.hwm_mb, 1),
            "apiserver_requests_per_run": {k: round((metrics1[k] - metrics0[k]) / count, 1) for k in metrics0},
            "latency_ms": {k: stats(v) for k, v in self.rec.latencies(ns, names).items()},
        })
        return out


    def burst(self, count: int, timeout: float) -> dict[str, Any]:
        """``count`` quickstart runs created at once in a namespace the test node does not serve (their
        Pods stay Pending): only the starts are measured. Created -> first Job, and the operator's
        CPU and requests from the first create until it has been quiet for 5 s (every start's Job,
        status write and Events), per run. With ``--floor`` the same for the ideal operator."""
        ns = self.bed.namespace(self.api, "bench-burst")
        manifest = yaml.safe_load((REPO_ROOT / "examples" / "quickstart" / "pipeline.yaml").read_text())
        self.api.request("POST", PIPELINES.format(ns=ns), body=manifest)
        # One warm-up run (not measured), as in the sequential scenario: first imports, the store's
        # client, the first connections. Without it the first starts of a burst wait seconds for them.
        create_run(self.api, ns, "warmup", "quickstart", noCache=True)
        with self.rec.cond:
            self.rec.cond.wait_for(lambda: any(j.run == "warmup" for (jns, _), j in self.rec.jobs.items() if jns == ns),
                                   timeout=120)
        self.wait_quiet(5, time.time() + 60)
        names = [f"burst-{i}" for i in range(count)]
        pid = self.op.process.pid  # type: ignore[union-attr]
        cpu0, load0, start = cpu_seconds(pid), loadavg(), time.time()
        with ThreadPoolExecutor(8) as pool:  # as the concurrent scenario creates its runs
            list(pool.map(lambda name: create_run(self.api, ns, name, "quickstart", noCache=True), names))
        created = time.time()
        log(f"  created {count} runs in {created - start:.1f}s")

        def all_have_jobs() -> bool:
            runs = {j.run for (jns, _), j in self.rec.jobs.items() if jns == ns}
            return all(n in runs for n in names)

        with self.rec.cond:
            complete = self.rec.cond.wait_for(all_have_jobs, timeout=max(0.0, start + timeout - time.time()))
            last_job = max((j.added for (jns, _), j in self.rec.jobs.items() if jns == ns), default=created)
        cpu_at_last_job = cpu_seconds(pid)
        loads = [loadavg()]
        quiet = self.wait_quiet(5, time.time() + 180)
        end = time.time() - 5 if quiet else time.time()
        cpu = cpu_seconds(pid) - cpu0
        assert self.bed.audit_log is not None
        counts = request_counts(self.bed.audit_log, start, end)
        first = self.rec.latencies(ns, names)["run_created_to_first_job_ms"]
        return {
            "runs": count, "pipeline": "examples/quickstart, its Pods left Pending",
            "every_run_got_its_job": complete, "operator_quiet_after": quiet,
            "seconds_to_create_all_runs": round(created - start, 1),
            "seconds_first_create_to_last_job": round(last_job - start, 1),
            "jobs_per_second": round(count / max(1e-3, last_job - start), 1),
            "operator_cpu_seconds": round(cpu, 2),
            "operator_cpu_ms_per_run": round(cpu * 1000 / count, 1),
            "operator_cpu_ms_per_run_until_last_job": round((cpu_at_last_job - cpu0) * 1000 / count, 1),
            "operator_requests_per_run": round(counts["non_watch_by_client"].get("operator", 0) / count, 2),
            "requests": counts,
            "loadavg_before": load0, "loadavg_at_last_job": loads[0], "loadavg_after": loadavg(),
            "operator_rss_peak_mb": round(self.mem.peak(since=start), 1),
            "latency_ms": {"run_created_to_first_job_ms": stats(first)},
        }

    def idle(self, sizes: list[int], window: float, settle_timeout: float) -> dict[str, Any]:
        """Operator requests per minute while N runs wait on live Jobs (Pods left Pending: the test
        node does not serve this namespace), for growing N: a flat rate means idle runs cost nothing."""
        ns = self.bed.namespace(self.api, "bench-idle")
        manifest = yaml.safe_load((REPO_ROOT / "examples" / "quickstart" / "pipeline.yaml").read_text())
        self.api.request("POST", PIPELINES.format(ns=ns), body=manifest)
        names: list[str] = []
        windows = []
        for size in sizes:
            for i in range(len(names), size):
                names.append(f"idle-{i}")
                create_run(self.api, ns, names[-1], "quickstart", noCache=True)
            if not self.wait_started(ns, names, time.time() + settle_timeout):
                log(f"  not all {size} idle runs got their Job within {settle_timeout:.0f}s")
            time.sleep(10)  # the last status writes and their echoes
            assert self.bed.audit_log is not None
            # The runs just started still have Events queued (posted at most 20 a second, after
            # everything else): those belong to their start, not to waiting. Count once the
            # operator has been quiet for 10 s, or after 5 minutes whatever it does.
            quiet = self.wait_quiet(10, time.time() + 300)
            log(f"  operator quiet for 10 s: {quiet}")
            cpu0, load0, start = cpu_seconds(self.op.process.pid), loadavg(), time.time()  # type: ignore[union-attr]
            log(f"  {size} idle runs; counting the operator's requests for {window:.0f}s")
            time.sleep(window)
            end = time.time()
            counts = request_counts(self.bed.audit_log, start, end)
            n = counts["non_watch_by_client"].get("operator", 0)
            windows.append({
                "idle_runs": size, "operator_quiet_before": quiet, "window_seconds": round(end - start, 1), "operator_requests": n,
                "operator_requests_per_minute": round(n * 60 / (end - start), 2),
                "operator_by_verb_resource": counts["operator_by_verb_resource"],
                "operator_cpu_seconds": round(cpu_seconds(self.op.process.pid) - cpu0, 2),  # type: ignore[union-attr]
                "operator_rss_mb_at_end": round(self.mem.rss_at(end), 1),
                "loadavg_before": load0, "loadavg_after": loadavg(),
                "phases": dict(self.run_phases(ns, names)),
            })
        return {"pipeline": "examples/quickstart, its Pods left Pending", "windows": windows,
                "resync_seconds": self.op.env.get("BARQUE_RESYNC_SECONDS", "default (60)")}

    def wait_quiet(self, seconds: float, deadline: float) -> bool:
        """Until the audit log shows no operator request for ``seconds``; False at ``deadline``."""
        assert self.bed.audit_log is not None
        while time.time() < deadline:
            now = time.time()
            if not request_counts(self.bed.audit_log, now - seconds, now)["non_watch_by_client"].get("operator", 0):
                return True
            time.sleep(2)
        return False

    def wait_started(self, ns: str, names: list[str], deadline: float) -> bool:
        """Every run has its first Job and shows Running."""
        def started() -> bool:
            runs = {j.run for (jns, _), j in self.rec.jobs.items() if jns == ns}
            return all(n in runs and (self.rec.runs.get((ns, n)) or RunObs()).phase == "Running" for n in names)

        with self.rec.cond:
            return self.rec.cond.wait_for(started, timeout=max(0.0, deadline - time.time()))


# -- report ---------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def table(results: dict[str, Any]) -> str:
    seq, conc, idle = results.get("sequential") or {}, results.get("concurrent") or {}, results.get("idle") or {}
    lat, clat = seq.get("latency_ms") or {}, conc.get("latency_ms") or {}
    p50 = (clat.get("run_created_to_first_job_ms") or {}).get("median")
    p99 = (clat.get("run_created_to_first_job_ms") or {}).get("p99")

    def med(key: str, src: dict[str, Any] = lat) -> float | None:
        return (src.get(key) or {}).get("median")

    first, trans = med("run_created_to_first_job_ms"), med("job_complete_to_next_job_ms")
    per_run = seq.get("operator_requests_per_run")
    all_clients = (seq.get("apiserver_requests_per_run") or {}).get("no_watch")
    rss = conc.get("operator_vmhwm_mb")
    outcomes = conc.get("outcomes") or {}
    all_ok = bool(conc) and outcomes.get("Succeeded") == conc.get("runs") and not conc.get("timed_out")
    rows = [
        ("1. PipelineRun created -> first Job (median, ms)", first, f"{stats_line(lat.get('run_created_to_first_job_ms'))}",
         verdict(None if first is None else first < TARGET_MS)),
        ("2. Job Complete -> next phase's Job (median, ms)", trans, stats_line(lat.get("job_complete_to_next_job_ms")),
         verdict(None if trans is None else trans < TARGET_MS)),
        ("   last Pod finished -> next phase's Job (median, ms)", med("last_pod_finished_to_next_job_ms"),
         stats_line(lat.get("last_pod_finished_to_next_job_ms")), "info"),
        ("   last Pod finished -> Job Complete (Job controller, ms)", med("last_pod_finished_to_job_complete_ms"),
         stats_line(lat.get("last_pod_finished_to_job_complete_ms")), "info"),
        ("3. API requests per run, operator (non-watch)", per_run, f"all clients: {all_clients}", "info"),
        (f"4. {conc.get('runs', '?')} concurrent quickstart runs", f"{outcomes}",
         f"{conc.get('wall_seconds_to_last_end')} s to the last end", verdict(all_ok if conc else None)),
        ("   operator peak memory (VmHWM, MiB)", rss, f"RSS samples peak {conc.get('operator_rss_peak_mb')}",
         verdict(None if rss is None else rss < TARGET_RSS_MB)),
        ("   under that load: created -> first Job (p50, ms)", p50, stats_line(clat.get("run_created_to_first_job_ms")),
         verdict(None if p50 is None else p50 < TARGET_FIRST_JOB_P50_MS)),
        ("   under that load: created -> first Job (p99, ms)", p99, "",
         verdict(None if p99 is None else p99 < TARGET_FIRST_JOB_P99_MS)),
        ("   under that load: operator requests per run (1 phase)", conc.get("operator_requests_per_run"),
         f"all clients: {(conc.get('apiserver_requests_per_run') or {}).get('no_watch')}",
         verdict(None if conc.get("operator_requests_per_run") is None
                 else conc["operator_requests_per_run"] <= TARGET_REQUESTS_PER_PHASE)),
    ]
    for w in idle.get("windows") or ():
        rows.append((f"5. {w['idle_runs']} idle runs: operator requests/min", w["operator_requests_per_minute"],
                     f"{w['operator_requests']} in {w['window_seconds']} s", "info"))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'value':>10}  {'verdict':<7}  detail"]
    for label, value, detail, ok in rows:
        lines.append(f"{label:<{width}}  {str(value):>10}  {ok:<7}  {detail}")
    for name, part in (("sequential", seq), ("concurrent", conc)):
        if part.get("requests"):
            lines.append(f"operator requests in the {name} window: {part['requests']['operator_by_verb_resource']}")
    lines.append(f"load average (1m) before/after: sequential {seq.get('loadavg_before', ['?'])[0]}/"
                 f"{seq.get('loadavg_after', ['?'])[0]}, concurrent {conc.get('loadavg_before', ['?'])[0]}/"
                 f"max {conc.get('loadavg_max_1m')}; nproc {os.cpu_count()}")
    return "\n".join(lines)


def stats_line(s: dict[str, Any] | None) -> str:
    if not s or not s.get("n"):
        return "no samples"
    return f"n={s['n']} min {s['min']} p90 {s['p90']} p99 {s.get('p99')} max {s['max']}"


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"),
            "operator_uncommitted": bool(git("status", "--porcelain", "--", "operator/barque_operator"))}


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10, help="sequential runs of the 3-phase pipeline (default 10)")
    p.add_argument("--concurrent", type=int, default=100, help="concurrent quickstart runs (default 100; 0 skips)")
    p.add_argument("--pod-cap", type=int, default=20,
                   help="Pods of the concurrent scenario running at once, at most (a ResourceQuota; 0: no cap)")
    p.add_argument("--idle", default="100,400",
                   help="idle-run counts for the request-rate scenario, comma-separated (default 100,400; '' skips)")
    p.add_argument("--idle-window", type=float, default=150, help="seconds counted per idle count (default 150)")
    p.add_argument("--run-timeout", type=float, default=180, help="seconds for each sequential run (default 180)")
    p.add_argument("--concurrent-timeout", type=float, default=1800,
                   help="seconds for the concurrent scenario (default 1800)")
    p.add_argument("--resync", type=float, default=None,
                   help="BARQUE_RESYNC_SECONDS for the operator (default: the operator's own default)")
    p.add_argument("--operator-src", type=Path, default=None,
                   help="run the operator package of another checkout (e.g. a git worktree) for A/B comparisons")
    p.add_argument("--burst", type=int, default=0,
                   help="quickstart runs created at once whose Pods stay Pending: starts only (default 0: skipped)")
    p.add_argument("--floor", action="store_true",
                   help="run the ideal operator (floor.py) instead of barque's; only --burst then")
    p.add_argument("--profile", action="store_true",
                   help="run the operator under sampled.py; its samples go beside --out as <stem>-profile.json")
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, audit log) after the run")
    args = p.parse_args(argv)
    if args.floor and (args.runs or args.concurrent or args.idle.strip()):
        p.error("--floor runs the burst scenario only: give --runs 0 --concurrent 0 --idle ''")

    from session import bench_session  # type: ignore[import-not-found]  # beside this file; it imports this module

    results: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_state(),
        "host": {"nproc": os.cpu_count(), "python": platform.python_version(), "loadavg_at_start": loadavg()},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "timing_source": "local receive times of watch events in the harness (time.time()); API timestamps unused",
    }
    with bench_session("barque-opbench-", args.keep, results) as session:
        bed, rec = session.bed, session.rec
        if args.floor:
            op = bed.floor()
            session.operators.append(op)
            op.start()
        else:
            op = session.operator(args.resync, args.operator_src)
            if args.profile:
                profile = args.out.with_name(f"{args.out.stem}-profile.json")
                op.argv = [sys.executable, str(HERE / "sampled.py"), str(profile.resolve()), "--", *op.argv[1:]]
            op.start()
        assert op.process is not None
        results["operator"] = {"argv": op.argv, "resync_seconds": args.resync or "default",
                               "source": str(args.operator_src or REPO_ROOT), "log": str(op.log_path)}
        mem = MemorySampler(op.process.pid)
        bench = Bench(bed=bed, api=bed.api(), rec=rec, op=op, mem=mem)
        if args.runs > 0:
            log(f"sequential: {args.runs} runs of the 3-phase pipeline (+1 warm-up)")
            results["sequential"] = bench.sequential(args.runs, args.run_timeout)
        if args.concurrent > 0:
            log(f"concurrent: {args.concurrent} quickstart runs")
            results["concurrent"] = bench.concurrent(args.concurrent, args.concurrent_timeout, args.pod_cap)
        if args.burst > 0:
            log(f"burst: {args.burst} quickstart runs, starts only")
            results["burst"] = bench.burst(args.burst, args.concurrent_timeout)
            log(f"  {json.dumps({k: v for k, v in results['burst'].items() if k != 'requests'})}")
        sizes = [int(x) for x in args.idle.split(",") if x.strip()]
        if sizes:
            log(f"idle: {sizes} runs waiting on live Jobs")
            results["idle"] = bench.idle(sizes, args.idle_window, args.concurrent_timeout)
        op.process.check_alive()
        results["operator"]["vmhwm_mb_overall"] = round(mem.hwm_mb, 1)
        results["operator"]["rss_timeline_mb"] = mem.timeline(mem.samples[0][0] if mem.samples else 0.0)
        results["operator"]["reconcile_errors"] = [] if args.floor else [
            line for line in urllib.request.urlopen(op.metrics_url, timeout=10).read().decode().splitlines()
            if line.startswith("barque_reconcile_errors_total")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nwrote {args.out}")
    return 1 if "interrupted" in results else 0


if __name__ == "__main__":
    sys.exit(main())
