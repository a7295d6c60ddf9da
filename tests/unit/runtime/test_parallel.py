"""A phase's streams run in parallel, up to `--workers`.

Real: the `barque` CLI in a child process with its forked workers. Each step records when it
ran; a step waits (at most 1 s) to see another one start, so parallel runs stay fast.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, run_ok

STEP = """
@asset()
def {name}() -> str:
    import os, time
    start = time.monotonic()
    open("started-{name}", "w").close()
    deadline = start + {wait}
    while sum(1 for f in os.listdir(".") if f.startswith("started-")) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.02)
    with open("spans.txt", "a") as f:
        f.write(f"{{start}} {{time.monotonic()}}\\n")
    return "{name}"
"""


def _three_steps(folder: Path, wait: float) -> None:
    pipeline(folder, "from barque import asset\n" + "".join(STEP.format(name=n, wait=wait) for n in ("a", "b", "c")))


def _most_at_once(folder: Path) -> int:
    spans = [tuple(map(float, line.split())) for line in (folder / "spans.txt").read_text().splitlines()]
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


def test_streams_of_a_phase_run_in_parallel_up_to_the_worker_limit(tmp_path: Path) -> None:
    _three_steps(tmp_path, wait=1.0)
    plan = barque("plan", "pipeline.py", "--workers", "2", cwd=tmp_path).json
    assert [len(p["streams"]) for p in plan["phases"]] == [2]
    run_ok("pipeline.py", "--workers", "2", cwd=tmp_path)
    assert _most_at_once(tmp_path) == 2


def test_one_worker_runs_one_step_at_a_time(tmp_path: Path) -> None:
    _three_steps(tmp_path, wait=0.0)
    run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert _most_at_once(tmp_path) == 1
