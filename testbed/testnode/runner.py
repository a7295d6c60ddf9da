"""One thread per Pod bound to the test node: run its containers as local processes, report status.

Init containers run one after another, then all containers at once, each in its own session
(process group) so that killing a container kills everything it started. Status goes to the API
after every change, with a JSON merge patch on the status subresource (lists are replaced whole).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import spec
from ..kubeapi import Api, ApiError
from .spec import ConfigError, ContainerRun

TERMINAL_REPORT_SECONDS = 300.0
log = logging.getLogger("testnode")
MAX_GRACE = 3.0  # seconds between SIGTERM and SIGKILL, whatever the pod asks for
POLL = 0.1
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class NodeContext:
    api: Api
    node_name: str
    log_dir: Path
    work_dir: Path
    runtime_image: re.Pattern[str]
    entrypoints: dict[str, list[str]]
    base_path: str  # PATH for containers: the interpreter's directory first
    all_procs: set[subprocess.Popen[bytes]]  # every live child, for shutdown
    procs_lock: threading.Lock


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode  # killed by signal N -> 128+N


class PodRunner(threading.Thread):
    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.ctx, self.pod = ctx, pod
        self.ns, self.pod_name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.path = f"/api/v1/namespaces/{self.ns}/pods/{self.pod_name}"
        self.sandbox = ctx.work_dir / f"{self.ns}_{self.pod_name}_{self.uid}"
        self.logs = ctx.log_dir / f"{self.ns}_{self.pod_name}_{self.uid}"
        self.stopping = threading.Event()
        self.grace = MAX_GRACE
        pod_spec = pod["spec"]
        self.policy = pod_spec.get("restartPolicy", "Always")
        ads = pod_spec.get("activeDeadlineSeconds")
        self.deadline = time.monotonic() + ads if ads else None
        self.init_specs = pod_spec.get("initContainers") or []
        self.specs = pod_spec["containers"]
        self.init_runs = [ContainerRun(c["name"], c.get("image", ""), reason="PodInitializing")
                          for c in self.init_specs]
        self.runs = [ContainerRun(c["name"], c.get("image", ""),
                                  reason="PodInitializing" if self.init_specs else "ContainerCreating")
                     for c in self.specs]
        self.start_time = spec.now()
        self.gone = False  # the pod no longer exists in the API
        self.phase = "Pending"
        self.conditions: list[dict[str, Any]] = []  # as last reported

    # -- control from the watch loop -------------------------------------------------------
    def request_stop(self, grace: float | None) -> None:
        self.grace = min(MAX_GRACE, grace if grace is not None else MAX_GRACE)
        self.stopping.set()

    def run(self) -> None:
        try:
            self.lifecycle()
        except Exception:  # report and keep the node alive
            log.error("pod %s/%s: %s", self.ns, self.pod_name, traceback.format_exc())
            self.report("Failed", "TestNodeError", "the test node failed to run this pod; see its log")
        self.stopping.wait()
        self.delete_now()

    # -- lifecycle -----------------------------------------------------------------------
    def lifecycle(self) -> None:
        self.sandbox.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.report("Pending")
        for container, run in zip(self.init_specs, self.init_runs):
            outcome = self.supervise([container], [run], init=True)
            if outcome is not None:
                return self.end(outcome)
            if run.exit_code != 0:
                return self.end(("Failed", None, None))
        for run in self.runs:
            run.reason = "ContainerCreating"
        outcome = self.supervise(self.specs, self.runs, init=False)
        self.end(outcome or (spec.terminal_phase(self.runs), None, None))

    def end(self, outcome: tuple[str, str | None, str | None]) -> None:
        self.report(*outcome)

    def supervise(self, specs: list[dict[str, Any]], runs: list[ContainerRun],
                  init: bool) -> tuple[str, str | None, str | None] | None:
        """Run containers to completion, restarting per policy; an outcome if interrupted."""
        self.phase = "Pending" if init else "Running"
        procs: dict[int, tuple[subprocess.Popen[bytes], int]] = {}
        for i, container in enumerate(specs):
            if self.interrupted():
                break
            started = self.launch(container, runs[i])
            if started:
                procs[i] = started
        self.report(self.phase)
        while procs and not self.interrupted():
            self.stopping.wait(POLL)
            changed = False
            for i, (proc, offset) in list(procs.items()):
                if proc.poll() is None:
                    continue
                self.finish(specs[i], runs[i], proc, offset)
                del procs[i]
                changed = True
                failed = runs[i].exit_code != 0
                if (self.policy != "Never" and failed) or (self.policy == "Always" and not init):
                    runs[i].last = runs[i].as_status()["state"]["terminated"]
                    runs[i].restart_count += 1
                    again = self.launch(specs[i], runs[i])
                    if again:
                        procs[i] = again
            if changed:
                self.report(self.phase)
        if not self.interrupted():
            return None
        self.kill_all(procs, specs, runs)
        if self.past_deadline():
            return ("Failed", "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
        return (spec.terminal_phase(runs), None, None)  # being deleted: kubelet ends in a terminal phase

    def interrupted(self) -> bool:
        return self.stopping.is_set() or self.past_deadline()

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    # -- one container ---------------------------------------------------------------------
    def launch(self, container: dict[str, Any], run: ContainerRun) -> tuple[subprocess.Popen[bytes], int] | None:
        name = container["name"]
        mounts = self.empty_dirs(container)
        while True:
            try:
                base = self.base_env()
                env = spec.resolve_env(self.pod, container, self.lookup("secrets"), self.lookup("configmaps"), base)
                argv = spec.command_line(container, env, self.is_runtime_image, self.ctx.entrypoints)
                break
            except ConfigError as err:
                run.state, run.reason, run.message = "waiting", "CreateContainerConfigError", str(err)
                self.report(self.phase)
                if self.stopping.wait(2) or self.past_deadline():
                    return None
        env = spec.remap_env(env, base, mounts)
        term_file = self.sandbox / "termination" / name
        term_file.parent.mkdir(exist_ok=True)
        term_file.write_bytes(b"")
        env["BARQUE_TERMINATION_LOG"] = str(term_file)
        cwd = Path(spec.remap(container.get("workingDir", ""), mounts) or self.sandbox / "work" / name)
        if not cwd.is_dir():
            cwd = self.sandbox / "work" / name
            cwd.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{name}.log"
        run.started_at, run.message = spec.now(), ""
        with open(log_path, "ab") as out:
            offset = out.tell()
            try:
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as err:
                run.state, run.reason, run.exit_code = "terminated", "StartError", 128
                run.message, run.finished_at = f"failed to start {argv[0]!r}: {err}", spec.now()
                return None
        with self.ctx.procs_lock:
            self.ctx.all_procs.add(proc)
        run.state, run.reason, run.exit_code = "running", "", None
        run.container_id = f"testnode://{self.uid[:8]}-{name}-{run.restart_count}-{proc.pid}"
        log.info("pod %s/%s container %s started: %s", self.ns, self.pod_name, name, argv)
        return proc, offset

    def finish(self, container: dict[str, Any], run: ContainerRun, proc: subprocess.Popen[bytes],
               offset: int) -> None:
        with self.ctx.procs_lock:
            self.ctx.all_procs.discard(proc)
        code = _exit_code(proc.returncode)
        written = (self.sandbox / "termination" / run.name).read_bytes()
        with open(self.logs / f"{run.name}.log", "rb") as f:
            f.seek(offset)
            output = f.read()
        run.state, run.exit_code, run.finished_at = "terminated", code, spec.now()
        run.reason = "Completed" if code == 0 else "Error"
        run.message = spec.termination_message(written, output, container.get("terminationMessagePolicy"), code)
        log.info("pod %s/%s container %s exited %d", self.ns, self.pod_name, run.name, code)

    def kill_all(self, procs: dict[int, tuple[subprocess.Popen[bytes], int]], specs: list[dict[str, Any]],
                 runs: list[ContainerRun]) -> None:
        for proc, _ in procs.values():
            _signal_group(proc, signal.SIGTERM)
        end = time.monotonic() + self.grace
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for i, (proc, offset) in procs.items():
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
            self.finish(specs[i], runs[i], proc, offset)
        procs.clear()

    # -- helpers -----------------------------------------------------------------------------
    def is_runtime_image(self, image: str) -> bool:
        return bool(self.ctx.runtime_image.search(image))

    def base_env(self) -> dict[str, str]:
        env = {"PATH": self.ctx.base_path, "HOSTNAME": self.pod_name, "HOME": str(self.sandbox / "home")}
        (self.sandbox / "home").mkdir(exist_ok=True)
        env.update({k: os.environ[k] for k in ("LANG", "LC_ALL", "TMPDIR", "TZ") if k in os.environ})
        return env

    def empty_dirs(self, container: dict[str, Any]) -> dict[str, str]:
        """mountPath -> sandbox directory, for the container's emptyDir volume mounts."""
        empty = {v["name"] for v in self.pod["spec"].get("volumes") or [] if "emptyDir" in v}
        mounts = {}
        for mount in container.get("volumeMounts") or []:
            if mount["name"] in empty:
                local = self.sandbox / "volumes" / mount["name"] / mount.get("subPath", "")
                local.mkdir(parents=True, exist_ok=True)
                mounts[mount["mountPath"]] = str(local)
        return mounts

    def lookup(self, kind: str) -> Callable[[str, str], dict[str, str] | None]:
        def get(namespace: str, name: str) -> dict[str, str] | None:
            obj = self.ctx.api.get_or_none(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
            if obj is None:
                return None
            if kind == "secrets":
                return {k: base64.b64decode(v).decode("utf-8", errors="replace")
                        for k, v in (obj.get("data") or {}).items()}
            return dict(obj.get("data") or {})
        return get

    def report(self, phase: str, reason: str | None = None, message: str | None = None) -> None:
        if self.gone:
            return
        status = spec.pod_status(phase, self.start_time, self.init_runs, self.runs, reason, message,
                                 self.conditions)
        self.conditions = status["conditions"]
        # A terminal status has no next report to carry it, so it is retried while the API server is
        # away (restarting, or etcd is), as kubelet's status manager keeps syncing it.
        deadline = time.monotonic() + (TERMINAL_REPORT_SECONDS if phase in ("Succeeded", "Failed") else 0)
        while True:
            try:
                self.ctx.api.request("PATCH", f"{self.path}/status", body={"status": status},
                                     content_type=MERGE_PATCH)
                return
            except ApiError as err:
                if err.status == 404:
                    self.gone = True
                    self.stopping.set()
                    return
                if err.status != 429 and err.status < 500:  # refused for good: retrying will not help
                    log.warning("pod %s/%s: status update failed: %s", self.ns, self.pod_name, err)
                    return
                failure: Exception = err
            except Exception as err:  # network blips: the next report carries the full status again
                failure = err
            if time.monotonic() >= deadline:
                log.warning("pod %s/%s: status update failed: %s", self.ns, self.pod_name, failure)
                return
            time.sleep(1.0)

    def delete_now(self) -> None:
        """What kubelet does once the containers are gone: delete with grace period 0."""
        if self.gone:
            return
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}
        try:
            self.ctx.api.request("DELETE", self.path, body=body)
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("pod %s/%s: delete failed: %s", self.ns, self.pod_name, err)
        self.gone = True


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
