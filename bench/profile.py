"""Where does a ``barque run`` spend its time?  Wall-clock breakdown by phase, parent and workers.

    python bench/profile.py trivial --cold            # median of 5 fresh processes
    python bench/profile.py chain_100 --warm --repeat 7
    python bench/profile.py fan_out_500 --cold --workers 2
    python bench/profile.py plan_10k --plan
    python bench/profile.py trivial --warm --importtime   # which imports cost what
    python bench/profile.py fan_out_500 --cold --what-if no-fsync   # what a fix would buy

Each repetition is a fresh interpreter (so imports count) that wraps barque's own functions
with timers (monkeypatching at run time, nothing is edited) and runs ``barque_cli.main``.
Times are inclusive (a function's time contains its callees'); the indentation shows which
call contains which. Worker-side figures are summed over all workers (CPU-seconds of busy
worker time, roughly), parent figures are wall time. Run ``bench/generate.py`` first.

The overhead of the timers is a few microseconds per call; cProfile/pyinstrument give more
detail but inflate short calls, so use this for the budget and a profiler for the why.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

# (label, depth) in display order; labels not measured in a run are left out.
PARENT_ROWS = [
    ("import barque_cli.main", 0),
    ("import barque_runtime.api (+local, workers, history)", 0),
    ("main()", 0),
    ("build_parser", 1),
    ("api.plan", 1),
    ("prepare", 1),
    ("parse_project", 2),
    ("make_plan (every call: prepare, execute, api.plan)", 2),
    ("execute", 1),
    ("assess", 2),
    ("WorkerPool.run (fork + wait for workers)", 2),
    ("WorkerPool.close", 2),
    ("write_stream_records (a stream's records, by the parent)", 2),
    ("summarize", 1),
    ("history.record_run", 1),
    ("print JSON", 1),
]
WORKER_ROWS = [
    ("execute_stream", 0),
    ("execute_step", 1),
    ("loader.function (import user module)", 2),
    ("call_with_retries (user fn + log capture)", 2),
    ("write_value (serialize + blob put)", 2),
    ("artifacts.commit (commit record put)", 2),
    ("artifacts.put_ref (ref put)", 2),
    ("artifacts.lookup (cache probe)", 2),
    ("records.write_step_record (one step's record put; local workers send theirs to the parent)", 1),
    ("LocalStore.put (all puts)", 0),
    ("os.fsync", 1),
]


# ----------------------------------------------------------------------------- child side


class Timers:
    """Inclusive wall (``perf_counter``) and CPU (``process_time``: this process only) per label."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, label: str, seconds: float, cpu: float = 0.0) -> None:
        self.total[label] = self.total.get(label, 0.0) + seconds
        self.cpu[label] = self.cpu.get(label, 0.0) + cpu
        self.calls[label] = self.calls.get(label, 0) + 1

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        fn = getattr(owner, attr)
        timers = self
        clock, cpu_clock = time.perf_counter, time.process_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            t, c = clock(), cpu_clock()
            try:
                return fn(*args, **kwargs)
            finally:
                timers.add(label, clock() - t, cpu_clock() - c)

        setattr(owner, attr, timed)

    def wrap_gen(self, owner: Any, attr: str, label: str) -> None:
        fn = getattr(owner, attr)
        timers = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                yield from fn(*args, **kwargs)
            finally:
                timers.add(label, time.perf_counter() - t, time.process_time() - c)

        setattr(owner, attr, timed)

    def dump(self) -> dict[str, Any]:
        return {"total": self.total, "cpu": self.cpu, "calls": self.calls}


WHAT_IF = {
    "no-fsync": "os.fsync is a no-op (store puts and SQLite's own syncs are unaffected)",
    "no-gc": "gc.disable() before anything is imported",
    "no-history": "history.record_run does nothing",
}


def child(argv: list[str], dump_dir: str) -> int:
    what_if = set(filter(None, os.environ.get("BENCH_WHAT_IF", "").split(",")))
    if "no-gc" in what_if:
        import gc

        gc.disable()
    if "no-fsync" in what_if:
        os.fsync = lambda fd: None
    parent = Timers()
    t, c = time.perf_counter(), time.process_time()
    import barque_cli.main as cli_main

    parent.add("import barque_cli.main", time.perf_counter() - t, time.process_time() - c)
    # barque imports these lazily inside the command; import them here (timed) to wrap them
    t, c = time.perf_counter(), time.process_time()
    import barque_runtime.api as api
    import barque_runtime.history as history
    import barque_runtime.local as local
    import barque_runtime.workers as workers

    import_runtime = (time.perf_counter() - t, time.process_time() - c)
    from barque import artifacts, records
    from barque.store.local import LocalStore
    from barque_cli import cmd_local
    from barque_runtime import executor

    if "no-history" in what_if:
        history.record_run = lambda *args, **kwargs: None

    parent.wrap(cli_main, "build_parser", "build_parser")
    for name in ("parse_project", "assess"):
        parent.wrap(local, name, name)
    parent.wrap(local, "make_plan", "make_plan (every call: prepare, execute, api.plan)")
    parent.wrap(local, "write_stream_records", "write_stream_records (a stream's records, by the parent)")
    parent.wrap(api, "prepare", "prepare")
    parent.wrap(api, "execute", "execute")
    parent.wrap(api, "summarize", "summarize")
    parent.wrap(api, "plan", "api.plan")
    parent.wrap(history, "record_run", "history.record_run")
    parent.wrap(cmd_local, "_print", "print JSON")
    parent.wrap_gen(workers.WorkerPool, "run", "WorkerPool.run (fork + wait for workers)")
    parent.wrap(workers.WorkerPool, "close", "WorkerPool.close")

    # Worker side: these wrappers are inherited through fork and report from each worker.
    wt = Timers()
    wt.wrap(workers, "execute_stream", "execute_stream")
    wt.wrap(executor, "execute_step", "execute_step")
    wt.wrap(executor, "call_with_retries", "call_with_retries (user fn + log capture)")
    wt.wrap(executor.ModuleLoader, "function", "loader.function (import user module)")
    wt.wrap(artifacts, "write_value", "write_value (serialize + blob put)")
    wt.wrap(artifacts, "commit", "artifacts.commit (commit record put)")
    wt.wrap(artifacts, "put_ref", "artifacts.put_ref (ref put)")
    wt.wrap(artifacts, "lookup", "artifacts.lookup (cache probe)")
    wt.wrap(records, "write_step_record", "records.write_step_record (one step's record put; local workers send theirs to the parent)")
    wt.wrap(LocalStore, "put", "LocalStore.put (all puts)")
    wt.wrap(os, "fsync", "os.fsync")
    worker_main = workers._worker_main

    def timed_worker_main(*args: Any, **kwargs: Any) -> Any:
        wt.total.clear()  # drop what the parent inherited at fork
        wt.cpu.clear()
        wt.calls.clear()
        try:
            return worker_main(*args, **kwargs)
        finally:
            Path(dump_dir, f"worker-{os.getpid()}.json").write_text(json.dumps(wt.dump()))

    workers._worker_main = timed_worker_main

    t, c = time.perf_counter(), time.process_time()
    sys.argv = ["barque", *argv]
    rc = cli_main.main()  # as the console script calls it (main() treats that case apart)
    parent.add("main()", time.perf_counter() - t, time.process_time() - c)
    parent.add("import barque_runtime.api (+local, workers, history)", *import_runtime)
    parent.add("since interpreter start (in-process)", time.perf_counter() - T_START, time.process_time())
    doc = {"parent": parent.dump(), "rc": rc}
    Path(dump_dir, "parent.json").write_text(json.dumps(doc))
    return rc


# ----------------------------------------------------------------------------- driver side


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _entry(shape: str) -> Path:
    folder = OUT / shape
    entry = folder / ("pkg" if shape == "multi_file_discovery" else "pipeline.py")
    if not entry.exists():
        sys.exit(f"{entry} is missing: run `python bench/generate.py {shape}` first")
    return entry


def importtime(argv: list[str], env: dict[str, str], repeat: int, top: int, store: Path | None) -> None:
    """Median of ``python -X importtime`` over fresh runs of the barque console script."""
    import re

    script = Path(sys.executable).with_name("barque")
    self_us: dict[str, list[int]] = {}
    cum_us: dict[str, list[int]] = {}
    depth: dict[str, int] = {}
    totals = []
    for _ in range(repeat):
        if store is not None:
            subprocess.run(["rm", "-rf", str(store)], check=True)
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", str(script), *argv], env=env, capture_output=True, text=True, check=True
        )
        total = 0
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)", line)
            if not m:
                continue
            name = m.group(4)
            self_us.setdefault(name, []).append(int(m.group(1)))
            cum_us.setdefault(name, []).append(int(m.group(2)))
            depth[name] = (len(m.group(3)) - 1) // 2
            total += int(m.group(1))
        totals.append(total)
    print(f"### `python -X importtime` of `barque {' '.join(argv)}`: median of {repeat}, load {_load()}")
    print()
    print(
        f"All imports: {_median(totals) / 1000:.1f} ms per run (median), {min(totals) / 1000:.1f} ms (best run); "
        "sum of self times, wall clock, with importtime's own overhead. On a busy machine trust the best-of column."
    )
    print()
    print("| module (indent = nesting depth in the import tree) | cumulative ms, median | cumulative ms, best | self ms, median |")
    print("|---|---:|---:|---:|")
    ranked = sorted(cum_us, key=lambda k: -_median(cum_us[k]))[:top]
    for name in ranked:
        pad = "&nbsp;&nbsp;" * depth[name]
        print(
            f"| {pad}{name} | {_median(cum_us[name]) / 1000:.1f} | {min(cum_us[name]) / 1000:.1f} | {_median(self_us[name]) / 1000:.1f} |"
        )
    print()


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def drive(args: Any) -> int:
    entry = _entry(args.shape)
    store = entry.parent / ".barque"
    if args.plan:
        argv = ["plan", str(entry), "--workers", str(args.workers)]
    else:
        argv = ["run", str(entry), "--workers", str(args.workers)]
    env = dict(os.environ)
    if not args.no_bytecode_cache:
        # as bench/run.sh does: keep compiled bytecode (in bench/out/pycache), as an installed package would
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", str(OUT / "pycache"))
    python = sys.executable
    if args.warm:
        subprocess.run([python, "-m", "barque_cli.main", *argv], check=True, stdout=subprocess.DEVNULL, env=env)
    if args.what_if:
        unknown = set(args.what_if) - set(WHAT_IF)
        if unknown:
            sys.exit(f"unknown --what-if {', '.join(sorted(unknown))}; known: {', '.join(WHAT_IF)}")
        env["BENCH_WHAT_IF"] = ",".join(args.what_if)
    if args.importtime:
        importtime(argv, env, args.repeat, args.top, store if args.cold else None)
        return 0
    runs: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        if args.cold:
            subprocess.run(["rm", "-rf", str(store)], check=True)
        with tempfile.TemporaryDirectory() as dump_dir:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(
                [python, __file__, "--child", dump_dir, "--", *argv], check=True, stdout=subprocess.DEVNULL, env=env
            )
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            doc = json.loads(Path(dump_dir, "parent.json").read_text())
            doc["wall"] = wall
            doc["child_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            doc["workers"] = [json.loads(p.read_text()) for p in Path(dump_dir).glob("worker-*.json")]
            runs.append(doc)
    load = _load()
    mode = "plan" if args.plan else ("cold" if args.cold else "warm")
    if args.what_if:
        mode += "; what if: " + "; ".join(f"{w} ({WHAT_IF[w]})" for w in args.what_if)
    print(f"## {args.shape} ({mode}, --workers {args.workers}): median of {args.repeat} fresh processes, load {load}")
    print()
    print("| where (parent) | wall ms (median) | CPU ms (median) | calls |")
    print("|---|---:|---:|---:|")
    wall = _median([r["wall"] for r in runs])
    cpu = _median([r["child_cpu"] for r in runs])
    print(f"| whole process tree, from outside (incl. interpreter start-up; CPU incl. workers) | {wall * 1000:.1f} | {cpu * 1000:.1f} | 1 |")

    def med(key: str, label: str) -> float:
        return _median([r["parent"][key].get(label, 0.0) for r in runs]) * 1000

    label = "since interpreter start (in-process)"
    print(f"| &nbsp;&nbsp;from `bench/profile.py`'s first line to exit of main() (CPU: since interpreter start) | {med('total', label):.1f} | {med('cpu', label):.1f} | 1 |")
    for label, depth in PARENT_ROWS:
        if all(r["parent"]["total"].get(label) is None for r in runs):
            continue
        calls = runs[0]["parent"]["calls"].get(label, 0)
        pad = "&nbsp;&nbsp;" * (depth + 1)
        print(f"| {pad}{label} | {med('total', label):.1f} | {med('cpu', label):.1f} | {calls} |")
    if any(r["workers"] for r in runs):
        print()
        print("| where (workers, summed over workers) | wall ms (median) | CPU ms (median) | calls | wall ms per call |")
        print("|---|---:|---:|---:|---:|")
        for label, depth in WORKER_ROWS:
            totals = [sum(w["total"].get(label, 0.0) for w in r["workers"]) for r in runs]
            cpus = [sum(w["cpu"].get(label, 0.0) for w in r["workers"]) for r in runs]
            calls = sum(w["calls"].get(label, 0) for w in runs[0]["workers"])
            if not calls:
                continue
            wmed = _median(totals)
            pad = "&nbsp;&nbsp;" * depth
            print(f"| {pad}{label} | {wmed * 1000:.1f} | {_median(cpus) * 1000:.1f} | {calls} | {wmed * 1000 / calls:.3f} |")
        print(f"\nworker processes: {len(runs[0]['workers'])}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        dump_dir = argv[1]
        rest = argv[3:] if argv[2:3] == ["--"] else argv[2:]
        return child(rest, dump_dir)
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shape")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cold", action="store_true", help="empty store before each repetition")
    mode.add_argument("--warm", action="store_true", help="fill the store once, then time cached runs")
    mode.add_argument("--plan", action="store_true", help="time `barque plan`")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--what-if", action="append", default=[], help=f"patch barque at run time: {', '.join(WHAT_IF)}")
    parser.add_argument("--importtime", action="store_true", help="rank imports with python -X importtime instead")
    parser.add_argument("--top", type=int, default=30, help="rows of the --importtime table")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="leave PYTHONDONTWRITEBYTECODE as it is")
    return drive(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
