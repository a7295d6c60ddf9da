"""Time barque against barca on the same barca-syntax files, alternately, and record the ratios.

    python bench/vs_barca.py --barque bench/out/venv/bin/barque --barca bench/out/barca-venv/bin/barca
    python bench/vs_barca.py ... --only trivial,chain_100 --runs 5 --workers 2

``bench/vs_barca.sh`` installs both (barque from a wheel of the working tree, barca 0.33 from
PyPI) and calls this. Each shape of ``bench/generate.py`` (``plan_10k`` aside) is written once
into ``bench/out/vs/<shape>/`` with ``from barca import ...``, so both tools read exactly the
same bytes; barque runs barca files unchanged. A ``barca.toml`` anchors barca's project root
there, so its store is ``.barca/`` beside barque's ``.barque/``.

Fairness: fresh processes every time, the same worker count (``--workers`` for barque,
``BARCA_POOL_SIZE`` for barca), and the two tools take turns within every round (the one that
goes first alternates), so a load change on the shared machine hits both alike. Ratios are
barque's median over barca's; below 1.0 barque is faster. **cold** removes both stores before
every timed run; **warm** fills them once, then every timed run finds everything cached.

Results (medians, CPU time, loads, the commit) go to ``bench/vs/results.json``, which
``bench/report.py`` renders into the "Side by side with barca" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (bench/ is not a package)

OUT = HERE / "out" / "vs"
RESULTS = HERE / "vs" / "results.json"
SHAPES = [name for name in generate.SHAPES if name != "plan_10k"]
SLOW = {"fan_out_500_50ms"}  # ~13 s a run: fewer runs, no warm-up
STORES = (".barque", ".barca")


@dataclass
class Sample:
    """One timed process: wall and CPU (user + system of it and its children) seconds."""

    wall: float
    cpu: float


@dataclass
class Measurement:
    """Both tools on one shape in one mode."""

    shape: str
    mode: str
    barque: list[Sample] = field(default_factory=list)
    barca: list[Sample] = field(default_factory=list)
    load_before: float = 0.0
    load_after: float = 0.0
    failures: list[str] = field(default_factory=list)

    def median(self, tool: str) -> float | None:
        samples = getattr(self, tool)
        return statistics.median(s.wall for s in samples) if samples else None

    def ratio(self) -> float | None:
        a, b = self.median("barque"), self.median("barca")
        return a / b if a is not None and b else None


def write_shapes(names: list[str]) -> dict[str, Path]:
    """Write each shape in barca syntax under ``OUT``; return the folder of each."""
    folders = {}
    for name in names:
        folder = OUT / name
        if folder.exists():
            shutil.rmtree(folder)
        for rel, text in generate.SHAPES[name]().items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("from barque import", "from barca import"))
        (folder / "barca.toml").write_text("")
        folders[name] = folder
    return folders


def commands(barque: str, barca: str, entry: str, workers: int) -> dict[str, list[str]]:
    # barca reads a first positional as files when it ends in .py or /; a bare word is a target
    barca_entry = entry if entry.endswith(".py") else entry + "/"
    return {"barque": [barque, "run", entry, "--workers", str(workers)], "barca": [barca, "get", barca_entry]}


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[Sample, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu), proc.returncode, proc.stderr.decode(errors="replace")[-400:]


def measure(shape: str, mode: str, folder: Path, cmds: dict[str, list[str]], env: dict[str, str], runs: int, warmup: int) -> Measurement:
    """Alternate the two tools for ``warmup + runs`` rounds; keep the last ``runs`` samples."""
    m = Measurement(shape, mode, load_before=os.getloadavg()[0])
    tools = ["barque", "barca"]
    if mode == "warm":
        for store in STORES:
            shutil.rmtree(folder / store, ignore_errors=True)
        for tool in tools:
            subprocess.run(cmds[tool], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for round_no in range(warmup + runs):
        for tool in tools if round_no % 2 == 0 else reversed(tools):
            if mode == "cold":
                for store in STORES:
                    shutil.rmtree(folder / store, ignore_errors=True)
            sample, code, err = timed(cmds[tool], folder, env)
            if code != 0:
                m.failures.append(f"{tool} exit {code}: {err.strip()}")
            elif round_no >= warmup:
                getattr(m, tool).append(sample)
    m.load_after = os.getloadavg()[0]
    return m


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(HERE.parent), "log", "-1", "--format=%h", "--", "runtime"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--barque", required=True, help="the barque executable to time")
    parser.add_argument("--barca", required=True, help="the barca executable to time")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--slow-runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help=f"comma list of shapes (default all): {','.join(SHAPES)}")
    parser.add_argument("--modes", default="cold,warm")
    args = parser.parse_args(argv)
    names = [s for s in args.only.split(",") if s] or SHAPES
    unknown = sorted(set(names) - set(SHAPES))
    if unknown:
        parser.error(f"unknown shape(s): {', '.join(unknown)}")
    env = dict(os.environ, BARCA_POOL_SIZE=str(args.workers))
    folders = write_shapes(names)
    started = time.time()
    found: list[Measurement] = []
    for name in names:
        cmds = commands(args.barque, args.barca, generate.ENTRY[name], args.workers)
        for mode in args.modes.split(","):
            slow = name in SLOW and mode == "cold"
            runs, warmup = (args.slow_runs, 0) if slow else (args.runs, args.warmup)
            print(f"== {name} {mode} (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
            m = measure(name, mode, folders[name], cmds, env, runs, warmup)
            ratio = m.ratio()
            print(f"   barque {m.median('barque')}  barca {m.median('barca')}  ratio {ratio}", file=sys.stderr)
            for f in m.failures:
                print(f"   FAILED {f}", file=sys.stderr)
            found.append(m)
    partial = bool(args.only) or set(args.modes.split(",")) != {"cold", "warm"}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and partial else {"measurements": []}
    redone = {(m.shape, m.mode) for m in found}
    kept = [{"commit": previous.get("commit"), "date": previous.get("date")} | m
            for m in previous["measurements"] if (m["shape"], m["mode"]) not in redone]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    date, commit = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), git_commit()
    RESULTS.write_text(json.dumps({
        "date": date,
        "commit": commit,
        "workers": args.workers,
        "runs": args.runs,
        "seconds": round(time.time() - started),
        "nproc": os.cpu_count(),
        # each row keeps the commit and date it was measured at: a partial re-run (--only,
        # --modes) leaves the other rows as they were, and the report says which is which
        "measurements": kept + [asdict(m) | {"ratio": m.ratio(), "commit": commit, "date": date} for m in found],
    }, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}", file=sys.stderr)
    return 1 if any(m.failures for m in found) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
