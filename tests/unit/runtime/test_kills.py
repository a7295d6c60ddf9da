"""Kill tests: SIGKILL, SIGTERM and SIGINT at random moments of a multi-step run.

After each kill: no process of the run is alive within a second (the parent and every pid
the steps recorded); every commit record in the store names a blob that is there and
matches its hash; and a following cached run returns, step by step, exactly the bytes a
``--no-cache`` run in a fresh store computes. Each kill uses its own seed (a run
parameter), so every killed run has fresh work to be cut short.

``BARQUE_KILLS`` sets the kills per signal (default 2); ``BARQUE_KILL_REPORT`` names a file
that receives the figures as JSON. Real: the `barque` CLI with forked workers, a
local-folder store, signals sent with os.kill at a random moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from .clirun import run_ok, step_records, write
from .blocking import alive as is_alive
from .blocking import start_run

KILLS = int(os.environ.get("BARQUE_KILLS", "2"))

# Three streams with cross-stream reads and a pickled value; every step records its pid
# and sleeps a little, so a kill lands mid-step, between steps or during a write.
PIPELINE = """
from barque import asset
import os, random, time

def work(name, seed):
    with open("pids.txt", "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(random.uniform(0.01, 0.06))
    return (seed * 31 + sum(map(ord, name))) % 1009

@asset()
def a(seed: str = "0") -> list:
    return [work("a", int(seed)), int(seed)]

@asset(inputs={"xs": a})
def b(xs: list, seed: str = "0") -> int:
    return sum(xs) + work("b", int(seed))

@asset(inputs={"x": b})
def c(x: int, seed: str = "0") -> tuple:
    return (x, work("c", int(seed)))

@asset(inputs={"t": c})
def d(t: tuple, seed: str = "0") -> dict:
    return {"d": list(t) + [work("d", int(seed))]}

@asset()
def e(seed: str = "0") -> str:
    return f"e{work('e', int(seed))}"

@asset(inputs={"s": e})
def f(s: str, seed: str = "0") -> str:
    return s * 2 + str(work("f", int(seed)))

@asset(inputs={"s": f, "xs": a})
def g(s: str, xs: list, seed: str = "0") -> list:
    return [s, xs, work("g", int(seed))]

@asset()
def h(seed: str = "0") -> float:
    return work("h", int(seed)) / 7

@asset(inputs={"y": h, "z": d, "w": g})
def tip(y: float, z: dict, w: list, seed: str = "0") -> dict:
    return {"y": y, "z": z, "w": w, "n": work("tip", int(seed))}
"""


def _wrong_values(project_store: Path, fresh_store: Path, fresh_run: str) -> list[str]:
    """Steps whose value in the project's store (what a cached run reads, by cache key) differs from a fresh run's."""
    from barque import artifacts
    from barque.store import open_store

    opened = open_store(str(project_store))
    wrong = []
    for sid, rec in step_records(fresh_store, fresh_run).items():
        found = artifacts.lookup(opened, rec["cache_key"])
        if found is None or found["artifact"]["content_hash"] != rec["artifact"]["content_hash"]:
            wrong.append(sid)
    return wrong


def _unreadable(store: Path) -> list[str]:
    """Commit records that do not parse, or whose value (inline, or the blob they name) is missing
    or does not match its hash."""
    from barque import artifacts
    from barque.store import open_store

    opened = open_store(str(store))
    bad = []
    for key in opened.list("cache/"):
        try:
            ref = artifacts.ArtifactRef.from_dict(json.loads(opened.get(key) or b"")["artifact"])
            data = ref.inline if ref.inline is not None else opened.get(ref.key)
            ok = data is not None and len(data) == ref.size and hashlib.sha256(data).hexdigest() == ref.content_hash
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            bad.append(key)
    return bad


def _kill_at_random(folder: Path, seed: int, signum: int, rng: random.Random) -> dict[str, Any]:
    (folder / "pids.txt").unlink(missing_ok=True)
    proc = start_run(folder, "--param", f"seed={seed}")
    time.sleep(rng.uniform(0.05, 0.6))
    to_group = signum == signal.SIGINT and rng.random() < 0.5  # Ctrl-C reaches the whole group
    try:
        os.killpg(proc.pid, signum) if to_group else os.kill(proc.pid, signum)
    except ProcessLookupError:
        pass
    _, err = proc.communicate(timeout=30)
    pids = {proc.pid} | {int(p) for p in (folder / "pids.txt").read_text().split()} if (folder / "pids.txt").exists() else {proc.pid}
    deadline = time.monotonic() + 1.0
    while [p for p in pids if is_alive(p)] and time.monotonic() < deadline:
        time.sleep(0.01)
    alive = [p for p in pids if is_alive(p)]
    for pid in alive:  # count them, then make sure they do not outlive the test
        os.kill(pid, signal.SIGKILL)
    return {"code": proc.returncode, "alive": alive, "traceback": "Traceback" in err, "stderr": err[-2000:]}


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_a_run_killed_at_random_moments_leaves_no_process_and_no_wrong_or_unreadable_value(tmp_path: Path, signum: int) -> None:
    rng = random.Random(os.environ.get("BARQUE_KILL_SEED", f"{time.time_ns()}"))
    project, fresh = tmp_path / "project", tmp_path / "fresh"
    write(project, "pipeline.py", PIPELINE)
    figures: dict[str, Any] = {"signal": signal.Signals(signum).name, "kills": 0, "leftover_processes": 0, "bad_values": 0, "unreadable": 0, "tracebacks": 0, "before_start": 0, "codes": {}}
    for seed in range(KILLS):
        outcome = _kill_at_random(project, seed, signum, rng)
        figures["kills"] += 1
        figures["leftover_processes"] += len(outcome["alive"])
        figures["tracebacks"] += outcome["traceback"]
        figures["codes"][str(outcome["code"])] = figures["codes"].get(str(outcome["code"]), 0) + 1
        figures["unreadable"] += len(_unreadable(project / ".barque"))
        cached = run_ok("pipeline.py", "--param", f"seed={seed}", cwd=project)
        shutil.rmtree(fresh, ignore_errors=True)
        write(fresh, "pipeline.py", PIPELINE)
        computed = run_ok("pipeline.py", "--no-cache", "--param", f"seed={seed}", cwd=fresh)
        assert cached["final_output"] == computed["final_output"]
        assert cached["steps_executed"] + cached["steps_cached"] == computed["steps_executed"] == 9
        figures["bad_values"] += len(_wrong_values(project / ".barque", fresh / ".barque", computed["run_id"]))
        # A signal during the interpreter's own start (importing site) ends it before barque runs.
        figures["before_start"] += "Fatal Python error" in outcome["stderr"]
        if signum != signal.SIGKILL and "Fatal Python error" not in outcome["stderr"]:
            assert outcome["code"] in (0, 130, 143, -signum), outcome
    report = os.environ.get("BARQUE_KILL_REPORT")
    if report:
        with open(report, "a") as out:
            out.write(json.dumps(figures) + "\n")
    assert (figures["leftover_processes"], figures["bad_values"], figures["unreadable"]) == (0, 0, 0), figures
