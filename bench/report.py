"""Turn bench/out/ (hyperfine JSON, memwatch JSON, loads.tsv, meta.json) into a Markdown report.

    python bench/report.py             # print the table and write bench/RESULTS.md
    python bench/report.py --no-write  # print only

Times are hyperfine's wall-clock figures for the whole ``barque`` process (interpreter start
included). PASS/FAIL is decided on the median.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"

ORDER = [
    "trivial",
    "chain_100",
    "fan_out_500",
    "fan_out_500_50ms",
    "deep_diamond",
    "wide_layers",
    "map_reduce",
    "large_payloads",
    "multi_file_discovery",
    "partitioned_chain",
    "timeseries_1000",
    "plan_10k",
]
MODES = ["cold", "warm", "plan"]
MB_IN_MIB = 1e6 / 2**20  # 1 MB (10^6 bytes) in MiB


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def load_results() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for name in ORDER:
        for mode in MODES:
            path = OUT / f"{name}.{mode}.json"
            if path.exists():
                found[(name, mode)] = json.loads(path.read_text())["results"][0]
    return found


def load_loads() -> dict[tuple[str, str], tuple[str, str]]:
    path = OUT / "loads.tsv"
    loads = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                loads[(parts[0], parts[1])] = (parts[2], parts[3])
    return loads


def load_failures() -> list[str]:
    path = OUT / "failures.tsv"
    if not path.exists():
        return []
    return [" ".join(line.split("\t")) for line in path.read_text().splitlines() if line.strip()]


def load_memory() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(OUT.glob("memory.fan_out_500.*.json"))]


OPERATOR = HERE / "operator"
# how the operator's requests by verb and resource read in the table, per run
OPERATOR_REQUESTS = {
    "create events": "Events",
    "list jobs": "Job lists",
    "patch pipelineruns/status": "status patches",
    "create jobs": "Job creates",
    "patch pipelineruns": "run wake-ups (annotation)",
    "get pipelines": "Pipeline get",
}


def cache_soak_section() -> str:
    """The "Cache soak" section, from bench/cache_soak.json (written by bench/cache_soak.py --write),
    which runs apart from this suite."""
    path = HERE / "cache_soak.json"
    if not path.exists():
        return "Not measured: run `bench/cache_soak.py --write bench/cache_soak.json`."
    r = json.loads(path.read_text())
    kinds = ", ".join(f"{kind} {n}" for kind, n in r["by_kind"].items())
    return (
        f"`.venv/bin/python {r['command']}` on {r['date']}, at commit {r['commit']} ({r['seconds']:.0f} s): "
        f"{r['projects']} random three-file projects (tests/unit/runtime/metamorphic.py), **{r['edits_tried']} edits "
        f"tried** ({kinds}); after each, a cached run compared with a `no_cache` run on a fresh store. "
        f"**Stale values found: {r['stale_values']}**; comment or whitespace edits that re-ran a step: {r['noise_reruns']}."
    )


FAULT_NAMES = {
    "apiserver": "kube-apiserver stopped mid-run, down 3 s",
    "etcd": "etcd stopped mid-run, down 3 s",
    "minio": "MinIO stopped mid-step, down 4 s",
    "pod": "the running step Pod deleted",
    "node": "the test node and its Pods killed, back after 3 s",
    "leader": "the leader of two replicas SIGKILLed mid-run",
    "minio-start": "MinIO down 4 s from before the run is created (the operator writing its start)",
}


def fault_rows(path: Path) -> list[str]:
    """One row per fault of bench/operator/faults.py's matrix, when it was measured."""
    if not path.exists():
        return []
    m = json.loads(path.read_text())
    rows = []
    for f in m["scenarios"]:
        lost, corrupt = len(f["lost_artifacts"]), len(f["corrupt_artifacts"])
        ok = f["completed"] == f["repeat"] and not f["duplicate_jobs"] and not lost and not corrupt
        rows.append(f"| {FAULT_NAMES.get(f['fault'], f['fault'])} (`faults.py`, {f['repeat']} runs, commit "
                    f"{f.get('commit', m['git']['commit'])[:7]}, 1-min load {f['loadavg'][0]:.1f}) | **{f['completed']}/{f['repeat']} "
                    f"Succeeded**, duplicate Jobs **{f['duplicate_jobs']}**, lost / corrupt artifacts **{lost} / {corrupt}** "
                    f"of {f['artifacts_checked']}, streams run again {f['streams_run_more_than_once']}; recovered "
                    f"{f['recover_median']:.1f} s after (max {f['recover_max']:.1f} s) | all succeed, 0 duplicates, "
                    f"0 lost or corrupt | {'PASS' if ok else 'FAIL'} |")
    return rows


KILLS = {  # bench/operator/fault_kill.py's scenarios, as the table names them
    "random": "operator SIGKILLed {n} times at random points (0.2-3 s after each new run of the 3-phase diamond",
    "start_path": "operator SIGKILLed {n} times in the start path (each once the first Job of a burst of {size} "
                  "diamond runs appeared; {caught} runs caught between their store writes and their Job",
}


def kill_rows(path: Path) -> list[str]:
    """One row per scenario of bench/operator/fault_kill.py, when it was measured."""
    if not path.exists():
        return []
    m = json.loads(path.read_text())
    rows = []
    for name, f in m["scenarios"].items():
        healthy = sorted(k["healthy_after_seconds"] for k in f["kills"])
        caught = sum(len(k.get("planned_without_job_at_kill") or ()) for k in f["kills"])
        lost, corrupt = len(f["lost_artifacts"]), len(f["corrupt_artifacts"])
        ok = f["outcomes"] == {"Succeeded": f["runs"]} and not f["duplicate_jobs"] \
            and not f["streams_run_more_than_once"] and not lost and not corrupt
        what = KILLS[name].format(n=len(f["kills"]), size=m["args"].get("burst_size"), caught=caught)
        rows.append(f"| {what}; `fault_kill.py`, commit {m['git']['commit'][:7]}, 1-min load {f['loadavg'][0]:.1f}) "
                    f"| **{f['outcomes'].get('Succeeded', 0)}/{f['runs']} Succeeded**, {f['jobs']} Jobs for "
                    f"{f['jobs_expected']} phases, duplicate Jobs **{f['duplicate_jobs']}**, streams run twice "
                    f"**{f['streams_run_more_than_once']}**, lost / corrupt artifacts **{lost} / {corrupt}** of "
                    f"{f['artifacts_checked']}; healthy again after a median {healthy[len(healthy) // 2]:.1f} s "
                    f"| all succeed, 0 duplicates | {'PASS' if ok else 'FAIL'} |")
    return rows


def big_rows(path: Path) -> list[str]:
    """Rows of bench/operator/big_pipeline.py (a 10,000-step pipeline), when it was measured."""
    if not path.exists():
        return []
    m = json.loads(path.read_text())
    commit, etcd = m["git"]["commit"][:7], m["limits"]["etcd_object_bytes"]
    rows = []

    def answer(apply: dict[str, Any]) -> str:
        """The line of kubectl's answer that says why (an annotation too long, a request too large)."""
        lines = apply["answer"].splitlines()
        why = next((line for line in lines if "Too long" in line or "too large" in line), lines[-1])
        return why.strip(" *").split("): ")[-1][:100].replace("|", "/")

    def kib(n: int) -> str:
        return f"{n / 1024:,.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"

    for name, o in m["offline"].items():
        ops, plain = o["operator"], o["plain"]
        op = ops[o["form"]]
        shape = {"fan": "a fan-out", "layers": "100 layers"}.get(name.split("-")[0], name.split("-")[0])
        phases = f"{o['phases']} phase" + ("s" if o["phases"] != 1 else "")
        what = f"{shape} of {int(name.split('-')[1]):,} steps ({phases}, {o['streams']} streams)"
        rows += [
            f"| {what}: `barque plan --parallelism {m['args']['parallelism']}` (commit {commit}) | **{o['plan_seconds']} s**, "
            f"plan {kib(o['plan_bytes'])}; `barque compile` {o['compile_seconds']} s ({o['form']}; plain "
            f"{plain['compile_seconds']} s) | | info |",
            f"|    its Pipeline (JSON as kubectl sends it), as compiled ({o['form']}) | **{kib(o['manifest_json_bytes'])}**; "
            f"plain it is {kib(plain['manifest_json_bytes'])} (graph {kib(plain['manifest_graph_json_bytes'])}, code "
            f"{kib(plain['manifest_code_json_bytes'])}) | a client-side `kubectl apply`'s {kib(m['limits']['annotations_bytes'])} "
            f"| {'PASS' if o['fits_client_side_apply'] else 'FAIL'} |",
            f"|    the operator on the fake API (no size limit): Ready check (cold), then run → first Job create "
            f"| Ready {op['ready_check_seconds']} s (CPU {op['ready_check_cpu_seconds']} s), **start {op['start_seconds']} s** "
            f"(CPU {op['start_cpu_seconds']} s); plain: Ready {ops['plain']['ready_check_seconds']} s, start "
            f"{ops['plain']['start_seconds']} s; status {kib(op['status_json_bytes'])} ({op['status_steps_listed']} steps listed), "
            f"Job {kib(op['job_json_bytes'])}"
            + (f"; run to its end {op['run_seconds']} s, {op['final_phase']}, final status {kib(op['final_status_json_bytes'])}"
               if "final_phase" in op else "")
            + f" | status < 1 MiB | {'PASS' if op['status_json_bytes'] < 1024 * 1024 and op.get('final_status_json_bytes', 0) < 1024 * 1024 else 'FAIL'} |",
        ]
    for name, b in m.get("bed", {}).items():
        applied = "apply_server_side" not in b or b["apply_server_side"]["rc"] == 0
        how = ("`kubectl apply -f` stored it" if b["apply_client_side"]["rc"] == 0 else
               f"`kubectl apply -f` refused ({answer(b['apply_client_side'])}), "
               + ("`--server-side` stored it" if applied else f"`--server-side` refused ({answer(b['apply_server_side'])})"))
        listed = (b.get("kubectl_get_pipeline") or "").splitlines()
        if listed:
            how += "; `kubectl get pipeline`: `" + " / ".join(" ".join(line.split()) for line in listed) + "`"
        shown = f"{how}" + (f"; created → first Job **{b['created_to_first_job_ms']} ms**, status {kib(b['status_json_bytes'])}, "
                            f"Job {kib(b['job_json_bytes'])}" if "created_to_first_job_ms" in b else "")
        if "final_phase" in b:
            shown += f"; {b['final_phase']} after {b['run_seconds']} s, final status {kib(b['final_status_json_bytes'])}"
        shape = {"fan": "fan-out", "layers": "100 layers"}.get(name.split("-")[0], name.split("-")[0])
        rows.append(f"| test bed, {shape} of {int(name.split('-')[1]):,} steps (Pipeline {kib(b['manifest_json_bytes'])}) "
                    f"| {shown} | stored and run | {'PASS' if 'created_to_first_job_ms' in b else 'FAIL'} |")
    return rows


def operator_section() -> str:
    """The "Operator" section, from bench/operator/results.json and the notes beside it.

    The operator benchmark (bench/operator/run_bench.py) needs the test bed and runs apart from
    this suite; rendering its last results here keeps them in RESULTS.md when the suite rewrites it.
    """
    path = OPERATOR / "results.json"
    if not path.exists():
        return "Not measured: run `bench/operator/run_bench.py` (see bench/operator/README.md)."
    r = json.loads(path.read_text())
    seq, con, idle, args = r.get("sequential") or {}, r.get("concurrent") or {}, r.get("idle") or {}, r["args"]
    peak_mib = r["operator"]["vmhwm_mb_overall"]
    peak_mb = peak_mib / MB_IN_MIB
    started = datetime.datetime.fromisoformat(r["started"]).strftime("%Y-%m-%d %H:%M UTC")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    def lat(x: dict[str, Any]) -> str:
        return f"median **{x['median']:.0f} ms** (p90 {x['p90']:.0f}, max {x['max']:.0f})"

    def per_run(part: dict[str, Any]) -> str:
        by_verb = part["requests"]["operator_by_verb_resource"]
        return ", ".join(f"{n / part['runs']:.1f} {OPERATOR_REQUESTS.get(k, k)}"
                         for k, n in sorted(by_verb.items(), key=lambda kv: -kv[1]))

    rows, loads = [], []
    if seq:
        first, step = seq["latency_ms"]["run_created_to_first_job_ms"], seq["latency_ms"]["job_complete_to_next_job_ms"]
        pod_next = seq["latency_ms"]["last_pod_finished_to_next_job_ms"]
        pod_done = seq["latency_ms"]["last_pod_finished_to_job_complete_ms"]
        phases = 3
        rows += [
            f"| PipelineRun created → first Job (sequential runs, n={first['n']}) | {lat(first)} | < 300 ms | {verdict(first['median'] < 300)} |",
            f"| Job `Complete` → next phase's Job (n={step['n']} phase changes) | {lat(step)} | < 300 ms | {verdict(step['median'] < 300)} |",
            f"|    last Pod finished → next phase's Job (for reference) | median {pod_next['median']:.0f} ms, of which the Job "
            f"controller's Pod → `Complete` takes {pod_done['median']:.0f} ms | | info |",
            f"| operator API requests per phase, {seq['pipeline']} | **{seq['operator_requests_per_run'] / phases:.1f}** "
            f"({seq['operator_requests_per_run']} per run: {per_run(seq)}); all clients {seq['apiserver_requests_per_run']['no_watch']} per run "
            f"| ≤ 10 | {verdict(seq['operator_requests_per_run'] / phases <= 10)} |",
        ]
        loads.append(f"{seq['loadavg_before'][0]:.1f} → {seq['loadavg_after'][0]:.1f} during the sequential scenario")
    if con:
        cfirst = con["latency_ms"]["run_created_to_first_job_ms"]
        succeeded = con["outcomes"].get("Succeeded", 0)
        rows += [
            f"| {con['runs']} PipelineRuns created at once ({con['pipeline']}, `noCache: true`; created in "
            f"{con.get('seconds_to_create_all_runs', '?')} s, at most {con.get('pod_cap') or 'unlimited'} Pods running) "
            f"| **{succeeded}/{con['runs']} Succeeded**, the last {con['wall_seconds_to_last_end']} s after the first was created "
            f"| all succeed | {verdict(succeeded == con['runs'])} |",
            f"|    created → first Job, p50 | **{cfirst['median']:.0f} ms** (n={cfirst['n']}) | < 1 s | {verdict(cfirst['median'] < 1000)} |",
            f"|    created → first Job, p99 | **{cfirst['p99']:.0f} ms** (max {cfirst['max']:.0f}) | < 10 s | {verdict(cfirst['p99'] < 10000)} |",
            f"|    operator API requests per phase (one phase per run) | **{con['operator_requests_per_run']}** ({per_run(con)}); "
            f"all clients {con['apiserver_requests_per_run']['no_watch']} | ≤ 10 | {verdict(con['operator_requests_per_run'] <= 10)} |",
        ]
        loads.append(f"{con['loadavg_before'][0]:.1f} → max {con['loadavg_max_1m']:.1f} during the concurrent one")
    rows.append(f"| operator peak memory (`VmHWM` of the process over its whole life) | **{peak_mib:.0f} MiB** ({peak_mb:.0f} MB) "
                f"| < 200 MB | {verdict(peak_mb < 200)} |")
    windows = idle.get("windows") or []
    if windows:
        rates = [w["operator_requests_per_minute"] for w in windows]
        shown = "; ".join(f"{w['idle_runs']} runs: **{w['operator_requests_per_minute']:.1f}/min** "
                          f"({w['operator_requests']} in {w['window_seconds']:.0f} s)" for w in windows)
        grows = len(rates) > 1 and rates[-1] > rates[0] + 1
        rows.append(f"| operator API requests per minute with N runs waiting on live Jobs | {shown} "
                    f"| does not grow with N | {verdict(not grows)} |")
    rows += kill_rows(OPERATOR / "faults.json")
    rows += fault_rows(OPERATOR / "faults-matrix.json")
    rows += big_rows(OPERATOR / "big-pipeline.json")
    notes = (OPERATOR / "NOTES.md").read_text() if (OPERATOR / "NOTES.md").exists() else ""
    if notes.startswith("<!--"):  # the file's own comment, for its editors
        notes = notes[notes.index("-->") + 3 :]
    command = (f"--runs {args['runs']} --concurrent {args['concurrent']} --pod-cap {args.get('pod_cap')} "
               f"--idle {args.get('idle')!r} --idle-window {args.get('idle_window')}")
    resync = r["operator"].get("resync_seconds", "default")
    resync_text = "60 s, the default" if resync == "default" else f"{resync} s"
    return f"""Measured by `.venv/bin/python bench/operator/run_bench.py {command}` (see
bench/operator/README.md; raw numbers in bench/operator/results.json, rendered here by
`bench/report.py`) on {started}, at commit {r['git']['commit'][:7]}. It runs on the test bed: etcd,
kube-apiserver, kube-controller-manager v1.37.2, MinIO, the test node (Pods run as local
processes) and `barque operator` with the chart's defaults (safety sweep every {resync_text}), each its own process on
the same {r['host']['nproc']} CPUs, shared with other work. 1-min load {", ".join(loads)}.

Timing source: {r['timing_source']}. Requests are counted from the API server's audit log by
user (the operator has its own client certificate), watches excluded.

| target | measured | limit | result |
|---|---:|---:|---|
{chr(10).join(rows)}

{notes.strip()}
"""


VS = HERE / "vs" / "results.json"
VS_NOTES = HERE / "vs" / "notes.md"  # the closing note under the table, written by hand after a run


def vs_section() -> str:
    """The "Side by side with barca" section, from bench/vs/results.json (bench/vs_barca.sh).

    Targets (issue "Local speed"): cold ratio at most 1.0 on every shape (fan_out_500_50ms: within
    1.1x of the ideal 500 x 50 ms / workers instead), warm ratio at most 2.0.
    """
    if not VS.exists():
        return "Not measured: run `bash bench/vs_barca.sh` (see bench/README.md)."
    r = json.loads(VS.read_text())
    rows = []
    shapes = list(dict.fromkeys(m["shape"] for m in r["measurements"]))  # a partial re-run appends its rows: keep each shape's together
    for m in sorted(r["measurements"], key=lambda m: (shapes.index(m["shape"]), m["mode"])):
        barque = [s["wall"] for s in m["barque"]]
        barca = [s["wall"] for s in m["barca"]]
        if not barque or not barca:
            rows.append(f"| {m['shape']} | {m['mode']} | failed: {'; '.join(m['failures'])[:200]} | | | | |")
            continue
        a, b = statistics.median(barque), statistics.median(barca)
        if m["shape"] == "fan_out_500_50ms" and m["mode"] == "cold":
            ideal = 500 * 0.05 / r["workers"]
            limit, ok = f"≤ 1.1 × ideal {ideal:.1f} s", a <= 1.1 * ideal
        else:
            bound = 1.0 if m["mode"] == "cold" else 2.0
            limit, ok = f"ratio ≤ {bound}", a / b <= bound
        cpu = statistics.median(s["cpu"] for s in m["barque"]) / max(statistics.median(s["cpu"] for s in m["barca"]), 1e-9)
        rows.append(
            f"| {m['shape']} | {m['mode']} | {fmt(a)} | {fmt(b)} | **{a / b:.2f}** (CPU {cpu:.2f}) "
            f"| {limit} | {'PASS' if ok else 'FAIL'} | {m['load_before']:.1f} → {m['load_after']:.1f} |"
        )
    # rows of a partial re-run (--modes, --only) carry their own commit and date; older rows only the file's
    groups: dict[tuple[str, str], set[str]] = {}
    for m in r["measurements"]:
        groups.setdefault((m.get("date", r["date"]), m.get("commit", r["commit"])), set()).add(m["mode"])
    measured = (f"on {r['date']}, barque's `runtime/` at commit {r['commit']}" if len(groups) <= 1 else "; ".join(
        f"{'/'.join(sorted(modes))} rows on {d}, barque's `runtime/` at commit {c}" for (d, c), modes in sorted(groups.items())))
    return f"""Measured by `bash bench/vs_barca.sh` {measured}: barque (wheel install)
and barca 0.33.0 (PyPI) on the same barca-syntax files, taking turns in every round, fresh
processes, `--workers {r['workers']}` / `BARCA_POOL_SIZE={r['workers']}`, median of {r['runs']} runs per tool
(cold fan_out_500_50ms: fewer), {r['nproc']} CPUs, {r['seconds']} s in all. Ratio = barque / barca (below 1: barque
faster); the CPU ratio compares user + system time of each process tree.

| shape | mode | barque | barca | ratio | target | result | load |
|---|---|---:|---:|---:|---|---|---|
{chr(10).join(rows)}

{VS_NOTES.read_text().strip() if VS_NOTES.exists() else ""}
"""


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout.rstrip()
    except OSError:
        free = "(free not available)"
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "?"

    dirty = [line for line in git("status", "--short", "--", "runtime").splitlines() if line.strip()]
    # the last commit that changed barque itself (runtime/), not whatever was committed last
    commit = "`" + git("log", "-1", "--format=%h", "--", "runtime") + "` (" + git("log", "-1", "--format=%s", "--", "runtime") + ")"
    barque = (OUT / "barque-path.txt").read_text().strip() if (OUT / "barque-path.txt").exists() else ""
    if barque.startswith(str(OUT / "venv")):
        install = (
            "**as installed**: `bench/run.sh` built a wheel of the working tree at the start of the suite "
            "and installed it (not editable) into `bench/out/venv`, whose `barque` was timed. The repository's "
            "own `.venv` has an editable install, whose setuptools import hook adds ~14 ms to every "
            "interpreter start-up; a pip-installed barque has none."
        )
    else:
        install = f"run as `{barque or '?'}` (`BARQUE=` was set: not the suite's wheel install)."
    return {
        "install": install,
        "commit": commit + (f" (+ {len(dirty)} uncommitted change(s) under runtime/ at report time)" if dirty else ""),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "free": free,
        "python": f"{platform.python_implementation()} {platform.python_version()} (barque's interpreter: "
        f"{Path(barque).with_name('python') if barque else '?'}; this report's: {sys.executable})",
        "kernel": platform.release(),
        "loadavg": Path("/proc/loadavg").read_text().strip(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def timing_table(results: dict[tuple[str, str], dict[str, Any]], loads: dict[tuple[str, str], tuple[str, str]]) -> str:
    rows = [
        "| benchmark | mode | median | mean ± σ | min | max | CPU user + sys (mean) | runs | load (1-min) before → after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in ORDER:
        for mode in MODES:
            r = results.get((name, mode))
            if r is None:
                continue
            before, after = loads.get((name, mode), ("?", "?"))
            rows.append(
                f"| {name} | {mode} | **{fmt(r['median'])}** | {fmt(r['mean'])} ± {fmt(r['stddev'] or 0.0)} | "
                f"{fmt(r['min'])} | {fmt(r['max'])} | {fmt(r['user'])} + {fmt(r['system'])} | {len(r['times'])} | {before} → {after} |"
            )
    return "\n".join(rows)


def memory_section(mems: list[dict[str, Any]], loads: dict[tuple[str, str], tuple[str, str]]) -> tuple[str, float | None]:
    if not mems:
        return "(no memory measurement in bench/out/)", None
    keys = [
        ("max_single_rss_kernel_mib", "largest single process, peak RSS (kernel `ru_maxrss` via `getrusage(RUSAGE_CHILDREN)`; `/usr/bin/time -v` agrees)"),
        ("sum_of_peaks_rss_mib", "**sum over parent + workers of each one's peak RSS (`VmHWM`)**: judged figure"),
        ("peak_concurrent_rss_mib", "largest sum of `VmRSS` over the live tree at one sample"),
        ("peak_concurrent_pss_mib", "largest sum of `Pss` over the live tree at one sample (shared pages split)"),
    ]
    before, after = loads.get(("memory", "fan_out_500"), ("?", "?"))
    lines = [
        f"Cold `barque run` of fan_out_500, {len(mems)} repetitions, load {before} → {after}. "
        f"Processes per run: {', '.join(str(m['max_processes_at_once']) for m in mems)} at once "
        "(the runner and its forked workers). Figures in MiB; max and median over the repetitions.",
        "",
        "| figure | max | median | how |",
        "|---|---:|---:|---|",
    ]
    for key, how in keys:
        values = [m[key] for m in mems]
        lines.append(f"| `{key.removesuffix('_mib')}` | {max(values):.1f} | {statistics.median(values):.1f} | {how} |")
    time_rss = []
    for i in range(1, len(mems) + 1):
        path = OUT / f"memory.fan_out_500.{i}.time.txt"
        if path.exists():
            for line in path.read_text().splitlines():
                if "Maximum resident set size" in line:
                    time_rss.append(int(line.rsplit(":", 1)[1]) / 1024)
    if time_rss:
        lines.append("")
        lines.append(
            "`/usr/bin/time -v` on the runner, *Maximum resident set size* (the largest single process "
            f"of its tree): {', '.join(f'{v:.1f}' for v in time_rss)} MiB."
        )
    per = mems[0]["per_process"]
    lines.append("")
    lines.append(
        "Per process in the first repetition: "
        + ", ".join(f"pid {p['pid']} ({p['comm']}{', not counted' if p['excluded'] else ''}) {p['peak_rss_mib']} MiB" for p in per)
        + "."
    )
    return "\n".join(lines), max(m["sum_of_peaks_rss_mib"] for m in mems)


def targets(results: dict[tuple[str, str], dict[str, Any]], mem_mib: float | None, workers: int) -> str:
    ideal = 500 * 0.050 / workers
    rows = ["| target | measured (median) | limit | result |", "|---|---:|---:|---|"]

    def row(label: str, value: float | None, limit: float, shown: str, limit_shown: str) -> None:
        if value is None:
            rows.append(f"| {label} | not measured | {limit_shown} | n/a |")
        else:
            rows.append(f"| {label} | {shown} | {limit_shown} | {'PASS' if value < limit else 'FAIL'} |")

    def med(name: str, mode: str) -> float | None:
        r = results.get((name, mode))
        return None if r is None else float(r["median"])

    v = med("trivial", "cold")
    row("trivial, cold, wall", v, 0.100, fmt(v) if v is not None else "", "< 100 ms")
    v = med("chain_100", "warm")
    row("chain_100, fully cached, wall", v, 0.150, fmt(v) if v is not None else "", "< 150 ms")
    v = med("fan_out_500_50ms", "cold")
    row(
        f"fan_out_500_50ms, cold, within 1.25× of 500 × 50 ms / {workers} workers = {ideal:.1f} s",
        v,
        1.25 * ideal + 1e-9,
        f"{fmt(v)} ({v / ideal:.2f}× ideal)" if v is not None else "",
        f"≤ {fmt(1.25 * ideal)}",
    )
    v = med("plan_10k", "plan")
    row("`barque plan` of the 10,000-asset file", v, 1.0, fmt(v) if v is not None else "", "< 1 s")
    limit = 150 * MB_IN_MIB
    row(
        "runner peak memory on fan_out_500 (parent + workers, sum of per-process peak RSS, worst repetition)",
        mem_mib,
        limit,
        f"{mem_mib:.1f} MiB ({mem_mib / MB_IN_MIB:.1f} MB)" if mem_mib is not None else "",
        f"< 150 MB ({limit:.1f} MiB)",
    )
    return "\n".join(rows)


def splice_section(title: str, body: str) -> int:
    """Replace the section ``## title`` of the existing RESULTS.md (up to the next ``## ``), or
    add it at the end, leaving every other section as it is; the measurements behind the others
    (bench/out/) need not be on this machine."""
    doc = RESULTS.read_text()
    head = f"## {title}\n"
    if head in doc:
        before, rest = doc.split(head, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
    else:
        before, tail = doc.rstrip("\n") + "\n\n", ""
    RESULTS.write_text(f"{before}{head}\n{body.strip()}\n\n{tail}".rstrip("\n") + "\n")
    print(body)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true", help="print the table; leave bench/RESULTS.md alone")
    parser.add_argument("--vs-only", action="store_true", help="re-render only the side-by-side section in bench/RESULTS.md")
    parser.add_argument("--operator-only", action="store_true",
                        help="re-render only the Operator section in bench/RESULTS.md (from bench/operator/results.json)")
    args = parser.parse_args(argv)
    if args.vs_only:
        return splice_section("Side by side with barca", vs_section())
    if args.operator_only:
        return splice_section("Operator", operator_section())
    results = load_results()
    if not results:
        print("no results in bench/out/: run `bash bench/run.sh` first", file=sys.stderr)
        return 1
    loads = load_loads()
    meta_path = OUT / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    workers = int(meta.get("workers") or os.cpu_count() or 1)
    table = timing_table(results, loads)
    mem_text, mem_mib = memory_section(load_memory(), loads)
    target_text = targets(results, mem_mib, workers)
    failures = load_failures()
    failed_text = (
        "\n\n**Failed (a run exited non-zero; no figures):** " + ", ".join(failures) if failures else ""
    )
    print(table + failed_text)
    print()
    print(target_text)
    if args.no_write:
        return 0
    m = machine()
    settings = (
        f"`--workers {workers}`, {meta.get('runs', '?')} timed runs after {meta.get('warmup', '?')} warm-up run(s) "
        f"per benchmark (cold fan_out_500_50ms: {meta.get('slow_runs', '?')} runs, no warm-up)"
    )
    duration = f"{meta['suite_seconds']} s" if "suite_seconds" in meta else "?"
    bytecode = (
        "Bytecode cache on (`PYTHONPYCACHEPREFIX=bench/out/pycache`, `PYTHONDONTWRITEBYTECODE` unset), as an installed package has."
        if meta.get("bytecode_cache", 1)
        else "Bytecode cache **off** (`--no-bytecode-cache`): every barque module was compiled from source on every run."
    )
    if meta.get("only", "").strip():
        duration += f" (partial run: only {meta['only'].strip()}; other rows come from earlier runs)"
    for rerun in meta.get("reruns", []):
        duration += f"; then {', '.join(rerun['only'])} re-measured alone ({rerun['seconds']} s)"
    doc = f"""# barque benchmark results

Generated by `bash bench/run.sh` (→ `bench/report.py`) on {m['date']}. Suite wall time: {duration}.
See bench/README.md for what each shape measures and bench/FINDINGS.md for the profiles.

## What was measured

barque's code (`runtime/`) as of commit {m['commit']}, {m['install']}

## Machine

- CPUs (`nproc`): {m['nproc']}, {m['cpu']}
- Python: {m['python']}; Linux {m['kernel']}
- Load average when this report was written (`/proc/loadavg`): {m['loadavg']}
- Memory (`free -h`):

```
{m['free']}
```

The machine is shared: the 1-min load average before and after each measurement is in the
table. With 2 CPUs, a load above ~2 means barque competed for CPU and the times are inflated.

## Timings

Wall time of the whole `barque` command (hyperfine, `-N`: no shell), {settings}. {bytecode}
CPU is hyperfine's user and system time of the command and its children (workers included),
which a loaded machine inflates less than wall time.
**cold**: the store (`.barque/` in the shape's folder) is removed before each run, so every
step executes. **warm**: the store was filled by one run before timing, so every step is
cached. **plan**: `barque plan`.

{table}{failed_text}

## Memory

{mem_text}

## Targets

{target_text}

## Side by side with barca

{vs_section()}
## Operator

{operator_section()}

## Cache soak

{cache_soak_section()}"""
    RESULTS.write_text(doc)
    print(f"\nwrote {RESULTS.relative_to(HERE.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
