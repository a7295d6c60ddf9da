"""What every fault scenario checks once its runs ended (only its own runs' Jobs and Pods), from the
API, the watch recorder and MinIO.

- outcomes: each run's final phase (all should be Succeeded);
- duplicate Jobs: Jobs of one run and phase beyond the first, plus Job names the recorder saw
  with more than one uid (deleted and made again); both must be 0;
- streams run more than once: Pods per (Job, completion index) beyond the first (a stream that
  ran twice; expected where the fault is a lost Pod, which the Job's retry runs again);
- lost or corrupt artifacts: every artifact a succeeded step's status names is read back from
  MinIO and its bytes hashed: missing, or not matching the sha256 its key names, counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from run_bench import RunObs, RUNS, Recorder, Testbed  # type: ignore[import-not-found]
from testbed.faults import artifact_problems
from testbed.kubeapi import Api


@dataclass
class RunCheck:
    outcomes: dict[str, int]
    jobs: int
    duplicate_jobs: int
    streams_run_more_than_once: int
    artifacts_checked: int
    lost_artifacts: list[str] = field(default_factory=list)
    corrupt_artifacts: list[str] = field(default_factory=list)
    run_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_runs(bed: Testbed, api: Api, rec: Recorder, ns: str, names: list[str]) -> RunCheck:
    ours = set(names)
    jobs = [j for j in api.request("GET", f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]
            if (j["metadata"].get("labels") or {}).get("barque.dev/run") in ours]
    job_names = {j["metadata"]["name"] for j in jobs}
    pods = [p for p in api.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
            if (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") in job_names]
    per_phase = Counter((j["metadata"]["labels"].get("barque.dev/run"), j["metadata"]["labels"].get("barque.dev/phase"))
                        for j in jobs)
    per_index = Counter((p["metadata"]["labels"].get("batch.kubernetes.io/job-name"),
                         p["metadata"]["annotations"].get("batch.kubernetes.io/job-completion-index")) for p in pods)
    with rec.cond:
        outcomes = Counter((rec.runs.get((ns, n)) or RunObs()).phase or "none" for n in names)
        remade = sum(len(uids) - 1 for (jns, name), uids in rec.job_uids.items() if jns == ns and name in job_names)
        seconds = [round(o.ended - o.added, 1) for n in names if (o := rec.runs.get((ns, n))) and o.ended and o.added]
    lost, corrupt, checked = _artifacts(bed, api, ns, names)
    return RunCheck(outcomes=dict(outcomes), jobs=len(jobs),
                    duplicate_jobs=sum(n - 1 for n in per_phase.values()) + remade,
                    streams_run_more_than_once=sum(n - 1 for n in per_index.values()),
                    artifacts_checked=checked, lost_artifacts=lost, corrupt_artifacts=corrupt, run_seconds=seconds)


def _artifacts(bed: Testbed, api: Api, ns: str, names: list[str]) -> tuple[list[str], list[str], int]:
    assert bed.minio is not None
    client = bed.minio.client()
    lost: list[str] = []
    corrupt: list[str] = []
    checked = 0
    for name in names:
        missing, bad, n = artifact_problems(client, bed.minio.bucket, api.request("GET", f"{RUNS.format(ns=ns)}/{name}"))
        lost += [f"{name} {s}" for s in missing]
        corrupt += [f"{name} {s}" for s in bad]
        checked += n
    return lost, corrupt, checked
