#!/usr/bin/env python
"""Fault test on the test bed: SIGKILL the operator at random points while runs go on.

    .venv/bin/python bench/operator/fault_kill.py [--kills 20] [--seed 9] [--keep]

Starts the same test bed as run_bench.py (etcd, kube-apiserver, kube-controller-manager, MinIO,
the test node, `barque operator`), then `--kills` times: creates one run of the 3-phase diamond
pipeline (`noCache: true`), waits a random 0.2-3 s, SIGKILLs the operator (no cleanup, as when
its node dies) and starts it again, so the kills land on every stage of the runs in flight:
creation, planning, store writes, Job creation, status writes, phase changes. Then it waits for
every run to end and checks, from the API:

- every run Succeeded;
- duplicate Jobs: Jobs of one run and phase beyond the first (names are deterministic, so
  this counts Jobs that exist under another name, expected 0);
- streams run more than once: Pods per (Job, completion index) beyond the first (a second Pod
  means the work ran twice, expected 0);
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
from session import bench_session  # type: ignore[import-not-found]  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--timeout", type=float, default=600, help="seconds for all runs to end after the last kill")
    p.add_argument("--out", type=Path, default=HERE / "faults.json")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_state(),
                           "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                           "loadavg_at_start": loadavg()}
    with bench_session("barque-opfault-", args.keep, out) as session:
        bed, rec = session.bed, session.rec
        op = session.operator().start()
        api = bed.api()
        ns = bed.namespace(api, "bench-seq")
        api.request("POST", PIPELINES.format(ns=ns), body=compile_pipeline(bed.dir, QUICK, "diamond"))
        names, kills = [], []
        for i in range(args.kills):
            names.append(f"fault-{i}")
            create_run(api, ns, names[-1], "diamond", noCache=True)
            pause = rng.uniform(0.2, 3.0)
            time.sleep(pause)
            op.kill()
            killed = time.time()
            op.start()
            kills.append({"after_seconds": round(pause, 2), "healthy_after_seconds": round(time.time() - killed, 2)})
            log(f"  kill {i + 1}/{args.kills} {pause:.1f}s after creating {names[-1]}; healthy again in "
                f"{kills[-1]['healthy_after_seconds']}s")
        ended = rec.wait_runs(ns, names, time.time() + args.timeout)
        check = check_runs(bed, api, rec, ns, names)
        out.update({
            "runs": len(names), "all_ended": ended, **check.to_dict(), "jobs_expected": 3 * len(names),
            "kills": kills, "operator_starts": op.starts, "loadavg_at_end": loadavg(),
        })
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    summary = {k: out.get(k) for k in ("runs", "all_ended", "outcomes", "jobs", "jobs_expected", "duplicate_jobs",
                                        "streams_run_more_than_once", "operator_starts")}
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}")
    ok = out.get("outcomes") == {"Succeeded": args.kills} and not out.get("duplicate_jobs") \
        and not out.get("streams_run_more_than_once")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
