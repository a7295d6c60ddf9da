#!/usr/bin/env python
"""The fault matrix on the test bed: each fault injected mid-run, repeatedly, and what it cost.

    .venv/bin/python bench/operator/faults.py [--faults apiserver,etcd,minio,pod,node,leader,minio-start] [--repeat 5] [--keep]

Starts the test bed as run_bench.py does (etcd, kube-apiserver, kube-controller-manager, MinIO, the
test node, `barque operator`; `leader` runs two replicas with leader election), then for each fault,
``--repeat`` times: creates one run of a 3-phase pipeline whose steps take 2 s (`noCache: true`),
waits until its first phase is running, injects the fault and waits for the run to end
(``minio-start``: the fault is on first, then the run is created).

| fault | injected | the run should |
|---|---|---|
| apiserver | kube-apiserver stopped (SIGTERM), down 3 s, started again | go on once watches relist |
| etcd | etcd stopped (SIGTERM), down 3 s, started again | the same: the API server answers errors meanwhile |
| minio | MinIO stopped (SIGTERM) while a step runs, down 4 s, started again | finish: steps and the operator retry store calls with backoff |
| pod | the running step Pod deleted | finish: the Job's retry runs the stream again |
| node | the test node and its Pods' processes SIGKILLed, down 3 s, started again | finish: its Pods are lost (`NodeLost`), the Job's retry runs them |
| leader | the replica holding the Lease SIGKILLed (two replicas) | finish under the other replica |
| minio-start | MinIO stopped (SIGTERM), the run created, MinIO down 4 s while the operator writes its start | start once MinIO is back, with one Job per phase |

For each fault: runs completed, duplicate Jobs (must be 0), lost or corrupt artifacts (must be 0:
every artifact a step's status names is read back from MinIO and hashed), streams run more than
once, and the time to recover: from the faulty part being back (healthy again; for `pod` the
deletion, for `leader` the kill) to the run's next progress (its next Job, or its end). Writes
bench/operator/faults-matrix.json and prints a table; `bench/report.py` is not involved (the
table is pasted into bench/RESULTS.md by hand). Not a pytest test: tests/integration/test_faults.py
runs one fast repetition of the store and Pod faults.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from checks import check_runs  # type: ignore[import-not-found]  # noqa: E402
from run_bench import (  # type: ignore[import-not-found]  # noqa: E402
    PIPELINES,
    compile_pipeline,
    create_run,
    git_state,
    loadavg,
    log,
)
from session import Session, bench_session  # type: ignore[import-not-found]  # noqa: E402
from testbed.faults import kill_pod_processes, restart, running_pod  # noqa: E402
from testbed.kubeapi import Api  # noqa: E402
from testbed.procs import wait_until  # noqa: E402

NS = "bench-seq"  # a namespace the test node serves
FAULTS = ("apiserver", "etcd", "minio", "pod", "node", "leader", "minio-start")
AT_CREATION = ("minio-start",)  # on before the run is created, not once its first phase runs
STEPS = '''
import time
from barque import asset


@asset()
def first() -> int:
    time.sleep(2)
    return 1


@asset(inputs={"x": first})
def second(x: int) -> int:
    time.sleep(2)
    return x + 1


@asset(inputs={"x": first})
def third(x: int) -> int:
    return x + 2


@asset(inputs={"a": second, "b": third})
def last(a: int, b: int) -> int:
    return a + b
'''
ELECTION = {"BARQUE_LEASE_SECONDS": "6", "BARQUE_RENEW_DEADLINE_SECONDS": "4", "BARQUE_LEASE_RETRY_SECONDS": "1",
            "BARQUE_LEADER_ELECTION": "barque-operator", "BARQUE_LEADER_NAMESPACE": NS}


def lease_holder(api: Api) -> str | None:
    lease = api.get_or_none(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/barque-operator")
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


class Matrix:
    def __init__(self, session: Session, repeat: int, timeout: float) -> None:
        self.s, self.repeat, self.timeout = session, repeat, timeout
        self.api = session.bed.api()
        self.seq = 0

    def progress(self, run: str) -> tuple[int, bool]:
        """How many Jobs of ``run`` the recorder saw, and whether the run ended."""
        rec = self.s.rec
        with rec.cond:
            jobs = sum(1 for (jns, _), j in rec.jobs.items() if jns == NS and j.run == run)
            obs = rec.runs.get((NS, run))
            return jobs, bool(obs and obs.ended)

    def one(self, fault: str, inject: Callable[[str, Callable[[], None] | None], float]) -> dict[str, Any]:
        """One run with ``fault`` injected once its first phase runs (``AT_CREATION``: ``inject``
        creates the run while the fault is on, through the callable it is given); ``inject``
        returns the time (time.time()) from which recovery is measured."""
        self.seq += 1
        run = f"{fault}-{self.seq}"

        def create() -> None:
            create_run(self.api, NS, run, "steps", noCache=True)

        if fault in AT_CREATION:  # the fault is on when the run is created, and ``inject`` creates it
            jobs_before = 0
            back = inject(run, create)
        else:
            create()
            wait_until(lambda: running_pod(self.api, NS, run), timeout=120, what=f"a running step of {run}", interval=0.1)
            jobs_before, _ = self.progress(run)
            back = inject(run, None)
        jobs_at_end, _ = self.progress(run)  # for a fault at creation: 0 if it held the start back
        rec = self.s.rec
        with rec.cond:  # progress() takes the same (re-entrant) lock
            rec.cond.wait_for(lambda: self.progress(run)[0] > jobs_before or self.progress(run)[1], timeout=self.timeout)
        recovered = time.time() - back
        ended = rec.wait_runs(NS, [run], time.time() + self.timeout)
        log(f"  {run}: recovered {recovered:.1f} s after the fault ended; run ended: {ended}")
        out = {"run": run, "recover_seconds": round(recovered, 2), "ended": ended, "jobs_before_fault": jobs_before,
               "jobs_when_fault_ended": jobs_at_end}
        return out

    def scenario(self, fault: str) -> dict[str, Any]:
        bed = self.s.bed
        parts = {"apiserver": ("kube-apiserver", 3.0), "etcd": ("etcd", 3.0), "minio": ("minio", 4.0),
                 "minio-start": ("minio", 4.0)}

        def part(run: str, create: Callable[[], None] | None) -> float:
            name, down = parts[fault]
            if create is None:
                bed.restart(name, down)
                return time.time()
            proc, check = bed.parts[name]
            proc.stop(grace=10)
            create()
            time.sleep(down)
            proc.start()
            proc.wait_healthy(check, timeout=120)
            return time.time()

        def pod(run: str, create: Callable[[], None] | None) -> float:
            target = running_pod(self.api, NS, run)
            assert target is not None
            self.api.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{target['metadata']['name']}")
            return time.time()

        def node(run: str, create: Callable[[], None] | None) -> float:
            proc, check = bed.parts["testnode"]
            proc._signal(signal.SIGKILL)  # the node goes first, then what ran on it
            kill_pod_processes(self.api, NS)
            restart(proc, check, 3.0, signal.SIGKILL)
            return time.time()

        def leader(run: str, create: Callable[[], None] | None) -> float:
            holder = lease_holder(self.api)
            victim = next(op for op in self.s.operators if op.env.get("BARQUE_LEADER_IDENTITY") == holder)
            victim.kill()
            killed = time.time()
            # A replica restarted under its old identity (the same Pod) takes its own Lease back at
            # once; the standby's takeover is what is measured, so the victim returns after it.
            wait_until(lambda: lease_holder(self.api) not in (None, holder), timeout=120,
                       what="the standby to take the Lease", interval=0.2)
            victim.start()
            return killed

        inject = {"pod": pod, "node": node, "leader": leader}.get(fault, part)
        started = time.time()
        reps = [self.one(fault, inject) for _ in range(self.repeat)]
        names = [r["run"] for r in reps]
        check = check_runs(bed, self.api, self.s.rec, NS, names)
        recover = [r["recover_seconds"] for r in reps]
        return {"fault": fault, "repeat": self.repeat, "seconds": round(time.time() - started, 1),
                "completed": check.outcomes.get("Succeeded", 0), **check.to_dict(),
                "recover_seconds": recover, "recover_median": round(statistics.median(recover), 2),
                "recover_max": max(recover), "loadavg": loadavg(), "reps": reps}


def operators(session: Session, leader: bool, source: Path | None) -> None:
    """Start the operator(s) (of checkout ``source``, else this one): one alone, or two replicas electing a leader."""
    for op in session.operators:
        op.stop()
    session.operators.clear()
    if not leader:
        session.operator(source=source).start()
        return
    api = session.bed.api()
    for name in ("a", "b"):
        session.operator(source=source, name=f"replica-{name}", **ELECTION, BARQUE_LEADER_IDENTITY=name).start()
        if name == "a":
            wait_until(lambda: lease_holder(api) == "a", timeout=60, what="replica a to take the Lease")


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| fault | runs completed | duplicate Jobs | lost / corrupt artifacts | streams run again | "
            "time to recover, median (max) |\n|---|---|---|---|---|---|")
    lines = [f"| {r['fault']} | {r['completed']}/{r['repeat']} | {r['duplicate_jobs']} | "
             f"{len(r['lost_artifacts'])} / {len(r['corrupt_artifacts'])} of {r['artifacts_checked']} | "
             f"{r['streams_run_more_than_once']} | {r['recover_median']} s ({r['recover_max']} s) |" for r in rows]
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--timeout", type=float, default=300, help="seconds each run may take after its fault")
    p.add_argument("--out", type=Path, default=HERE / "faults-matrix.json")
    p.add_argument("--operator-src", type=Path, help="run the operator package of this checkout (A/B runs)")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    chosen = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = sorted(set(chosen) - set(FAULTS))
    if unknown:
        p.error(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    out: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_state(),
                           "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                           "loadavg_at_start": loadavg(), "scenarios": []}
    with bench_session("barque-faults-", args.keep, out) as session:
        api = session.bed.api()
        session.bed.namespace(api, NS)
        api.request("POST", PIPELINES.format(ns=NS), body=compile_pipeline(session.bed.dir, STEPS, "steps"))
        matrix = Matrix(session, args.repeat, args.timeout)
        for fault in chosen:
            operators(session, leader=fault == "leader", source=args.operator_src)
            log(f"{fault}: {args.repeat} runs")
            out["scenarios"].append(matrix.scenario(fault))
            args.out.write_text(json.dumps(out, indent=2) + "\n")  # what is done so far survives a later failure
    out["loadavg_at_end"] = loadavg()
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(table(out["scenarios"]))
    print(f"wrote {args.out}")
    ok = "interrupted" not in out and all(
        r["completed"] == r["repeat"] and not r["duplicate_jobs"] and not r["lost_artifacts"] and not r["corrupt_artifacts"]
        for r in out["scenarios"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
