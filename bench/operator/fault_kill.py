#!/usr/bin/env python
"""Fault test on the test bed: SIGKILL the operator at random points while runs go on.

    .venv/bin/python bench/operator/fault_kill.py [--kills 20] [--seed 9] [--bursts 0 --burst-size 10] [--keep]

Starts the same test bed as run_bench.py (etcd, kube-apiserver, kube-controller-manager, MinIO,
the test node, `barque operator`), then two scenarios, each on the 3-phase diamond pipeline
(`noCache: true`):

- random (``--kills`` times): creates one run, waits a random 0.2-3 s, SIGKILLs the operator (no
  cleanup, as when its node dies) and starts it again, so the kills land on every stage of the
  runs in flight: creation, planning, store writes, Job creation, status writes, phase changes.
- start path (``--bursts`` times): creates ``--burst-size`` runs at once, waits until the first
  of their Jobs appears (the operator is then mid-way through starting the others) plus a random
  0-0.3 s, and SIGKILLs the operator. At the kill it records how many of the burst's runs had
  their plan in the store but no Job yet: those were killed between a start's store writes and
  its Job create, which the restarted operator must finish without a second Job.

Then it waits for every run to end and checks, from the API and MinIO (checks.py):

- every run Succeeded;
- duplicate Jobs: Jobs of one run and phase beyond the first, and Job names seen with two uids
  (expected 0);
- streams run more than once: Pods per (Job, completion index) beyond the first (a second Pod
  means the work ran twice, expected 0);
- lost or corrupt artifacts (expected 0);
- recovery: after each restart, the time until the operator's health endpoint answered.

Writes bench/operator/faults.json and prints a summary. Not a pytest test.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from checks import check_runs  # type: ignore[import-not-found]  # noqa: E402
from run_bench import PIPELINES, QUICK, compile_pipeline, create_run, git_state, loadavg, log  # type: ignore[import-not-found]  # noqa: E402
from session import Session, bench_session  # type: ignore[import-not-found]  # noqa: E402

from testbed.kubeapi import Api  # noqa: E402

NS = "bench-seq"


def planned_without_job(session: Session, names: list[str]) -> list[str]:
    """Runs of ``names`` whose plan is in the store while the recorder has seen no Job of theirs."""
    bed, rec = session.bed, session.rec
    assert bed.minio is not None
    with rec.cond:
        with_job = {j.run for (jns, _), j in rec.jobs.items() if jns == NS}
    s3, planned = bed.minio.client(), set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bed.minio.bucket, Prefix="operator/runs/k8s/"):
        for obj in page.get("Contents") or []:
            parts = obj["Key"].split("/")  # operator/runs/k8s/<ns>/<name>-<uid8>/spec.json (it carries the plan)
            if len(parts) == 6 and parts[3] == NS and parts[-1] == "spec.json":
                planned.add(parts[4].rsplit("-", 1)[0])
    return sorted(n for n in names if n in planned and n not in with_job)


def random_kills(session: Session, api: Api, rng: random.Random, count: int) -> tuple[list[str], list[dict[str, Any]]]:
    op = session.operators[0]
    names, kills = [], []
    for i in range(count):
        names.append(f"fault-{i}")
        create_run(api, NS, names[-1], "diamond", noCache=True)
        pause = rng.uniform(0.2, 3.0)
        time.sleep(pause)
        op.kill()
        killed = time.time()
        op.start()
        kills.append({"after_seconds": round(pause, 2), "healthy_after_seconds": round(time.time() - killed, 2)})
        log(f"  kill {i + 1}/{count} {pause:.1f}s after creating {names[-1]}; healthy again in "
            f"{kills[-1]['healthy_after_seconds']}s")
    return names, kills


def burst_kills(session: Session, api: Api, rng: random.Random, bursts: int, size: int,
                timeout: float) -> tuple[list[str], list[dict[str, Any]]]:
    op, rec = session.operators[0], session.rec
    names: list[str] = []
    kills: list[dict[str, Any]] = []
    for b in range(bursts):
        burst = [f"burst-{b}-{i}" for i in range(size)]
        names += burst
        for name in burst:
            create_run(api, NS, name, "diamond", noCache=True)
        with rec.cond:
            rec.cond.wait_for(lambda: any(j.run in burst for (jns, _), j in rec.jobs.items() if jns == NS), timeout=60)
        time.sleep(rng.uniform(0.0, 0.3))
        op.kill()
        killed = time.time()
        caught = planned_without_job(session, burst)
        with rec.cond:
            started = len({j.run for (jns, _), j in rec.jobs.items() if jns == NS and j.run in burst})
        op.start()
        kills.append({"burst": b, "runs_with_a_job_at_kill": started, "planned_without_job_at_kill": caught,
                      "healthy_after_seconds": round(time.time() - killed, 2)})
        log(f"  burst {b + 1}/{bursts}: killed with {started}/{size} runs started, {len(caught)} between their "
            f"store writes and their Job; healthy again in {kills[-1]['healthy_after_seconds']}s")
        rec.wait_runs(NS, burst, time.time() + timeout)  # one burst at a time: the next kill lands on its own starts
    return names, kills


def scenario(session: Session, api: Api, names: list[str], kills: list[dict[str, Any]], timeout: float,
             jobs_per_run: int) -> dict[str, Any]:
    ended = session.rec.wait_runs(NS, names, time.time() + timeout)
    check = check_runs(session.bed, api, session.rec, NS, names)
    return {"runs": len(names), "all_ended": ended, **check.to_dict(), "jobs_expected": jobs_per_run * len(names),
            "kills": kills, "loadavg": loadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=20, help="random-point kills, one run each")
    p.add_argument("--bursts", type=int, default=0, help="start-path kills, one burst of runs each")
    p.add_argument("--burst-size", type=int, default=10)
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--timeout", type=float, default=600, help="seconds for all runs to end after the last kill")
    p.add_argument("--out", type=Path, default=HERE / "faults.json")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_state(),
                           "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                           "loadavg_at_start": loadavg(), "scenarios": {}}
    with bench_session("barque-opfault-", args.keep, out) as session:
        op = session.operator().start()
        api = session.bed.api()
        session.bed.namespace(api, NS)
        api.request("POST", PIPELINES.format(ns=NS), body=compile_pipeline(session.bed.dir, QUICK, "diamond"))
        if args.kills:
            names, kills = random_kills(session, api, rng, args.kills)
            out["scenarios"]["random"] = scenario(session, api, names, kills, args.timeout, 3)
        if args.bursts:
            names, kills = burst_kills(session, api, rng, args.bursts, args.burst_size, args.timeout)
            out["scenarios"]["start_path"] = scenario(session, api, names, kills, args.timeout, 3)
        out.update({"operator_starts": op.starts, "loadavg_at_end": loadavg()})
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    keys = ("runs", "all_ended", "outcomes", "jobs", "jobs_expected", "duplicate_jobs", "streams_run_more_than_once",
            "artifacts_checked", "lost_artifacts", "corrupt_artifacts")
    print(json.dumps({name: {k: s.get(k) for k in keys} for name, s in out["scenarios"].items()}, indent=2))
    print(f"wrote {args.out}")
    ok = "interrupted" not in out and all(
        s["outcomes"] == {"Succeeded": s["runs"]} and not s["duplicate_jobs"] and not s["streams_run_more_than_once"]
        and not s["lost_artifacts"] and not s["corrupt_artifacts"] for s in out["scenarios"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
