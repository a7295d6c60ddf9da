"""A run blocked mid-phase, for the signal and process tests: two workers wait on a file.

Real: the `barque` CLI in a child process (its own session, as a terminal's job is) with its
forked workers; each blocked step writes its worker's pid, atomically, before it waits.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from .clirun import BARQUE, pipeline

BLOCKING = """
from barque import asset
import os, time

@asset()
def quick() -> int:
    return 1

@asset(inputs={"x": quick})
def slow(x: int) -> int:
    with open(f"{os.getpid()}.tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(f"{os.getpid()}.tmp", f"worker-{os.getpid()}.pid")
    while os.path.exists("block"):
        time.sleep(0.01)
    trace("slow")
    return x + 1

@asset()
def other() -> int:
    with open(f"{os.getpid()}.tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(f"{os.getpid()}.tmp", f"worker-{os.getpid()}.pid")
    while os.path.exists("block"):
        time.sleep(0.01)
    return 2
"""


def with_default_sigint() -> None:
    """``preexec_fn`` giving the child SIGINT's default disposition, as a terminal's foreground job has.

    A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored
    across exec: a suite run from ``cmd &`` would hand the CLI a Ctrl-C it cannot hear.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(folder: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``barque run pipeline.py --workers 2 ARGS`` in ``folder`` as a terminal's job: in its
    own session (a signal to its group reaches the CLI and its workers, not the test) with
    SIGINT at its default; stdout and stderr piped."""
    return subprocess.Popen(
        [*BARQUE, "run", "pipeline.py", "--workers", "2", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=with_default_sigint,
    )


def start_blocked_run(folder: Path, extra: str = "") -> tuple[subprocess.Popen[str], list[int]]:
    """Start `barque run` on ``BLOCKING`` (and ``extra`` source after it) and return it once both
    workers are blocked, with their pids."""
    pipeline(folder, BLOCKING + extra)
    (folder / "block").touch()
    proc = start_run(folder)
    deadline = time.monotonic() + 20
    while len(list(folder.glob("worker-*.pid"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    pids = [int(p.read_text()) for p in folder.glob("worker-*.pid")]
    assert len(pids) == 2, "the workers never started"
    return proc, pids


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie left for init to reap has stopped
