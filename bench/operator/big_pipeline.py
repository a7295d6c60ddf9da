#!/usr/bin/env python
"""A 10,000-step pipeline: how long `barque plan` takes, whether its Pipeline fits the API, how
long the operator takes to its first Job, and how big the run's status and Job get.

    .venv/bin/python bench/operator/big_pipeline.py [--steps 10000] [--parallelism 20] [--shapes fan,layers] [--bed-steps 1000,3000]
                                                    [--complete] [--keep]

Shapes (bench/generate.py's): ``fan`` (``--steps`` independent assets: one phase of
``--parallelism`` streams) and ``layers`` (100 layers of ``--steps``/100 assets, node i reading
nodes i and i+1 of the layer above: a phase per layer).

Without a cluster, for each shape at ``--steps``:
- `barque plan FILE --parallelism P` and `barque compile` as a user runs them (wall time, median of
  3; the plan's and the Pipeline manifest's size in bytes, the manifest as the JSON kubectl sends),
  in the form compile chooses (packed past 256 KiB) and, once, in the plain form;
- for each form, the operator's Ready check of the Pipeline (a packed one's graph is parsed there,
  from a cold parse cache) and its start, its real ``reconcile_run`` on a local-folder store and
  the fake API of tests/unit/cluster_sim.py (no API limit): wall and CPU seconds from the run to
  its first Job create, the status written (JSON bytes) and the Job manifest (JSON bytes).
  ``--complete`` also runs the fan-out to its end there (every Pod a `barque exec` process, one
  at a time) and sizes the final status.

On the test bed (etcd, kube-apiserver, kube-controller-manager, MinIO, the test node, `barque
operator`; bench/operator/session.py), for each shape at ``--steps`` and the fan-out at each
``--bed-steps``: `kubectl apply -f` (client-side, as the README shows) of the compiled Pipeline,
and `kubectl apply --server-side -f` if that was refused, each's answer; where one was stored, what
`kubectl get pipeline` shows once the operator checked it, and a PipelineRun (``noCache``):
created -> its first Job (watch receive times, as run_bench.py), the run's status and the Job as
the API holds them (JSON bytes), and with ``--complete`` the fan-out's end and its final status size.

Writes bench/operator/big-pipeline.json and prints it. Not a pytest test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import generate  # type: ignore[import-not-found]  # noqa: E402
from run_bench import PIPELINES, RUNS, create_run, git_state, loadavg, log  # type: ignore[import-not-found]  # noqa: E402
from session import Session, bench_session  # type: ignore[import-not-found]  # noqa: E402

from testbed import paths  # noqa: E402
from tests.integration.operator_fixtures import barque_executable  # noqa: E402

NS = "bench-seq"  # a namespace the test node serves
ETCD_LIMIT = 1536 * 1024  # etcd's default --max-request-bytes: the largest object it stores
ANNOTATIONS_LIMIT = 256 * 1024  # all of an object's annotations (client-side apply's copy is one)


def shape(kind: str, steps: int) -> str:
    if kind == "fan":
        return generate._fan_out(f"fan_{steps}", steps, 0)["pipeline.py"]
    width = steps // 100
    return generate._layered(f"layers_{steps}", f"100 layers of {width}", width, 100,
                             lambda i: [i, (i + 1) % width], source=False, tip=False)


def project(root: Path, kind: str, steps: int) -> Path:
    folder = root / f"{kind}-{steps}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.py").write_text(shape(kind, steps))
    (folder / "barca.toml").write_text("")
    return folder


def timed(argv: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    """Median wall seconds of ``argv`` over ``repeat`` runs, and its last stdout."""
    walls, out = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True).stdout
        walls.append(time.perf_counter() - started)
    return round(statistics.median(walls), 2), out


def offline(folder: Path, name: str, parallelism: int, complete: bool) -> dict[str, Any]:
    """Plan and compile as a user runs them (the default form, then the plain one), then the
    operator's Ready check and start on the fake API."""
    import yaml

    barque = barque_executable()
    plan_s, plan_out = timed([barque, "plan", "pipeline.py", "--parallelism", str(parallelism)], folder, 3)
    plan = json.loads(plan_out)
    compile_s, manifest_yaml = timed([barque, "compile", "pipeline.py", "--name", name], folder, 3)
    (folder / "pipeline.yaml").write_text(manifest_yaml)
    manifest = yaml.safe_load(manifest_yaml)
    spec = manifest["spec"]
    plain_s, plain_yaml = timed([barque, "compile", "pipeline.py", "--name", name, "--form", "plain"], folder, 1)
    plain = yaml.safe_load(plain_yaml)
    out: dict[str, Any] = {
        "plan_seconds": plan_s, "plan_bytes": len(plan_out.encode()), "phases": len(plan["phases"]),
        "streams": sum(len(p["streams"]) for p in plan["phases"]),
        "compile_seconds": compile_s, "form": "plain" if "graph" in spec else "packed",
        "manifest_json_bytes": _size(manifest), "manifest_code_json_bytes": _size(spec["code"]),
        "plain": {"compile_seconds": plain_s, "manifest_json_bytes": _size(plain),
                  "manifest_graph_json_bytes": _size(plain["spec"]["graph"]),
                  "manifest_code_json_bytes": _size(plain["spec"]["code"])},
    }
    out["fits_client_side_apply"] = out["manifest_json_bytes"] <= ANNOTATIONS_LIMIT
    out["fits_etcd"] = out["manifest_json_bytes"] <= ETCD_LIMIT
    out["operator"] = {form: operator_start(folder, parallelism, complete and form == out["form"], body, form)
                       for form, body in ((out["form"], manifest), ("plain", plain))}
    return out


def operator_start(folder: Path, parallelism: int, complete: bool, manifest: dict[str, Any], form: str) -> dict[str, Any]:
    """The operator's Ready check of ``manifest`` (its first: a packed Pipeline's graph is parsed
    there), then its real ``reconcile_run`` on a local-folder store and the fake API
    (tests/unit/cluster_sim.py), each as wall and CPU seconds."""
    from barque_operator import inlinegraph
    from barque_operator.runcycle import Seen, reconcile_run
    from barque_operator.validation import check_pipeline
    from tests.unit.cluster_sim import Cluster

    cluster = Cluster([folder / "pipeline.py"], folder / f"store-{form}", parallelism=parallelism, work=folder)
    pipeline = {**manifest, "metadata": cluster.pipeline["metadata"],
                "spec": {**manifest["spec"], **{k: cluster.pipeline["spec"][k] for k in ("defaults", "store")}}}
    cluster.pipeline = pipeline
    inlinegraph._cache.clear()  # as a new operator process meets it
    wall, cpu = time.perf_counter(), time.process_time()
    check = check_pipeline(pipeline, cluster.ctx.settings)
    out: dict[str, Any] = {"ready_check_seconds": round(time.perf_counter() - wall, 2),
                           "ready_check_cpu_seconds": round(time.process_time() - cpu, 2), "ready": check.ok}
    body: dict[str, Any] = {
        "apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun",
        "metadata": {"name": "big-1", "namespace": "team-a", "uid": "abcdef12-0000-4000-8000-000000000001",
                     "generation": 1, "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"pipelineRef": {"name": "demo"}, "noCache": True}, "status": {},
    }
    seen = Seen(jobs={}, pipeline=lambda ns, n: cluster.pipeline if n == "demo" else None)
    wall, cpu = time.perf_counter(), time.process_time()
    status = reconcile_run(cluster.ctx, body, seen)
    out.update({"start_seconds": round(time.perf_counter() - wall, 2), "start_cpu_seconds": round(time.process_time() - cpu, 2)})
    job = next(iter(cluster.kube.jobs.values()))
    out.update({"status_json_bytes": _size(status), "status_steps_listed": len(status.get("steps") or ()),
                "job_json_bytes": _size(job), "job_completions": job["spec"].get("completions")})
    if complete:
        started = time.perf_counter()
        final = cluster.run("big-2", noCache=True)
        out.update({"run_seconds": round(time.perf_counter() - started, 1), "final_phase": final["status"]["phase"],
                    "final_status_json_bytes": _size(final["status"]),
                    "final_counts": final["status"].get("counts")})
    return out


def _size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":")).encode())


def kubectl(session: Session, *args: str) -> tuple[int, str]:
    proc = subprocess.run([str(paths.bin_dir() / "kubectl"), "--kubeconfig", str(session.bed.kubeconfigs["bench"]),
                           *args], capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode, text[:400]


def on_bed(session: Session, folder: Path, name: str, complete: bool, timeout: float) -> dict[str, Any]:
    """Apply the compiled Pipeline both ways kubectl can, then run it once where it was stored."""
    api, rec = session.bed.api(), session.rec
    manifest = folder / "pipeline.yaml"
    out: dict[str, Any] = {}
    rc, text = kubectl(session, "apply", "-n", NS, "-f", str(manifest))
    out["apply_client_side"] = {"rc": rc, "answer": text}
    if rc != 0:
        rc, text = kubectl(session, "apply", "--server-side", "-n", NS, "-f", str(manifest))
        out["apply_server_side"] = {"rc": rc, "answer": text}
    if api.get_or_none(f"{PIPELINES.format(ns=NS)}/{name}") is None:
        return out
    ready_by = time.time() + timeout
    while time.time() < ready_by:  # the operator's Ready check (a packed Pipeline's graph parsed there)
        status = (api.request("GET", f"{PIPELINES.format(ns=NS)}/{name}").get("status") or {})
        if status.get("conditions"):
            break
        time.sleep(0.5)
    out["kubectl_get_pipeline"] = kubectl(session, "get", "pipeline", "-n", NS, name)[1]
    run = f"{name}-1"
    create_run(api, NS, run, name, noCache=True)
    with rec.cond:
        rec.cond.wait_for(lambda: any(j.run == run for (jns, _), j in rec.jobs.items() if jns == NS), timeout=timeout)
        added = (rec.runs.get((NS, run)) or None)
        first = min((j.added for (jns, _), j in rec.jobs.items() if jns == NS and j.run == run), default=None)
    if added is not None and added.added is not None and first is not None:
        out["created_to_first_job_ms"] = round((first - added.added) * 1000)
    time.sleep(2)  # the start's status write follows its Job create
    body = api.request("GET", f"{RUNS.format(ns=NS)}/{run}")
    out["status_json_bytes"] = _size(body.get("status") or {})
    jobs = api.request("GET", f"/apis/batch/v1/namespaces/{NS}/jobs", query={"labelSelector": f"barque.dev/run={run}"})
    if jobs["items"]:
        out["job_json_bytes"] = _size(jobs["items"][0])
    if not complete:  # its Pods would take the CPU of the next shape's measurement
        api.request("DELETE", f"{RUNS.format(ns=NS)}/{run}")
    else:
        out["ended"] = rec.wait_runs(NS, [run], time.time() + timeout)
        body = api.request("GET", f"{RUNS.format(ns=NS)}/{run}")
        status = body.get("status") or {}
        out.update({"final_phase": status.get("phase"), "final_status_json_bytes": _size(status),
                    "final_counts": status.get("counts"),
                    "run_seconds": round(rec.runs[(NS, run)].ended - rec.runs[(NS, run)].added, 1)
                    if out["ended"] else None})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--parallelism", type=int, default=20)
    p.add_argument("--shapes", default="fan,layers")
    p.add_argument("--bed-steps", default="", help="smaller fan-outs tried on the test bed too, e.g. 1000,3000")
    p.add_argument("--no-bed", action="store_true", help="only what needs no cluster")
    p.add_argument("--complete", action="store_true", help="run the fan-outs to their end")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--out", type=Path, default=HERE / "big-pipeline.json")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    out: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_state(),
                           "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                           "loadavg_at_start": loadavg(), "limits": {"etcd_object_bytes": ETCD_LIMIT,
                                                                     "annotations_bytes": ANNOTATIONS_LIMIT},
                           "offline": {}, "bed": {}}
    root = Path(tempfile.mkdtemp(prefix="barque-big-"))
    for kind in [s.strip() for s in args.shapes.split(",") if s.strip()]:
        log(f"{kind}, {args.steps} steps: plan, compile, the operator's start")
        folder = project(root, kind, args.steps)
        out["offline"][f"{kind}-{args.steps}"] = offline(folder, f"{kind}-{args.steps}", args.parallelism,
                                                         args.complete and kind == "fan")
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    if not args.no_bed:
        shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
        tried = [(kind, args.steps) for kind in shapes]
        tried += [("fan", int(n)) for n in args.bed_steps.split(",") if n.strip() and ("fan", int(n)) not in tried]
        with bench_session("barque-big-", args.keep, out) as session:
            session.operator().start()
            session.bed.namespace(session.bed.api(), NS)
            for kind, steps in tried:
                name = f"{kind}-{steps}"
                folder = root / name
                if not (folder / "pipeline.yaml").exists():
                    project(root, kind, steps)
                    subprocess.run([barque_executable(), "compile", "pipeline.py", "--name", name, "-o", "pipeline.yaml"],
                                   cwd=folder, check=True)
                log(f"test bed: {name}")
                out["bed"][name] = {"manifest_json_bytes": _size(_load(folder / "pipeline.yaml")),
                                    **on_bed(session, folder, name, args.complete and kind == "fan", args.timeout)}
                args.out.write_text(json.dumps(out, indent=2) + "\n")
    out["loadavg_at_end"] = loadavg()
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    if args.keep:
        log(f"kept the generated projects in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0 if "interrupted" not in out else 1


def _load(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
