#!/usr/bin/env python
"""Run `barque operator` with a sampling profiler thread: where its CPU goes under a burst.

    python bench/operator/sampled.py OUT.json -- operator --metrics-port ... (barque's arguments)

cProfile sees only the thread that starts it, and the operator's work runs in kopf's event
loop and in thread pools; py-spy is not installed here. So a daemon thread reads every thread's
stack (``sys._current_frames``) every ``BARQUE_SAMPLE_MS`` milliseconds (default 5) and counts
the stacks of threads that are not waiting: a thread whose innermost Python frame is a known
wait (a condition, a selector, a socket read, an idle pool worker) is left out. Samples are
taken when the sampler gets the GIL, so a sample is a thread caught between bytecodes: fine for
proportions, not for absolute time (that is the process's CPU time, which run_bench records).

A sleeping thread is caught too (``time.sleep`` leaves no frame of its own), so the counts are
completed by what the kernel knows: each thread's CPU time (``/proc/self/task/<tid>/stat``),
summed by the thread's name without its number (``barque-reconcile``, ``barque-store``, kopf's
``MainThread`` event loop, ...), which threads that ended keep contributing.

Writes OUT.json every 10 s and at exit: samples counted, the innermost frames ("self") and
every frame on the stack ("total", once per sample) by ``file:function``, the "self" samples by
library (the top-level package of the innermost frame), and CPU seconds by thread pool. `run_bench.py --profile`
runs the operator through this.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

# (file name ending, function) of innermost frames that mean "waiting", not "working"
IDLE = {
    ("threading.py", "wait"), ("threading.py", "_wait_for_tstate_lock"), ("selectors.py", "select"),
    ("socket.py", "readinto"), ("socket.py", "accept"), ("ssl.py", "read"), ("ssl.py", "recv_into"),
    ("thread.py", "_worker"), ("queue.py", "get"), ("sampled.py", "_loop"), ("events.py", "_loop"),
}


def _where(frame: FrameType) -> str:
    path = frame.f_code.co_filename
    parts = Path(path).parts
    short = "/".join(parts[-3:]) if "site-packages" not in parts else "/".join(parts[parts.index("site-packages") + 1:])
    return f"{short}:{frame.f_code.co_name}"


def _library(frame: FrameType) -> str:
    parts = Path(frame.f_code.co_filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    for root in ("barque_operator", "barque_runtime", "barque_cli", "barque"):
        if root in parts:
            return root
    return "stdlib:" + Path(frame.f_code.co_filename).stem


class Sampler:
    def __init__(self, out: Path, interval: float) -> None:
        self.out, self.interval = out, interval
        self.samples = 0
        self.own: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self.libraries: Counter[str] = Counter()
        self.started = time.time()
        self._me = threading.get_ident()
        self.cpu: dict[int, tuple[str, float]] = {}  # native thread id -> (pool, CPU seconds)

    def _loop(self) -> None:
        last_dump = last_cpu = time.monotonic()
        while True:
            time.sleep(self.interval)
            for tid, frame in sys._current_frames().items():
                if tid == self._me:
                    continue
                key = (Path(frame.f_code.co_filename).name, frame.f_code.co_name)
                if key in IDLE:
                    continue
                self.samples += 1
                self.own[_where(frame)] += 1
                self.libraries[_library(frame)] += 1
                seen: set[str] = set()
                f: FrameType | None = frame
                while f is not None:
                    where = _where(f)
                    if where not in seen:
                        seen.add(where)
                        self.total[where] += 1
                    f = f.f_back
            if time.monotonic() - last_cpu > 1:  # about 100 threads: once a second, not per sample
                self._read_cpu()
                last_cpu = time.monotonic()
            if time.monotonic() - last_dump > 10:
                self.dump()
                last_dump = time.monotonic()

    def _read_cpu(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for thread in threading.enumerate():
            tid = thread.native_id
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, TypeError):
                continue
            pool = thread.name.rstrip("0123456789").rstrip("_-")
            self.cpu[tid or 0] = (pool, (int(fields[11]) + int(fields[12])) / tick)

    def dump(self) -> None:
        by_pool: Counter[str] = Counter()
        for pool, seconds in self.cpu.values():
            by_pool[pool] += seconds
        doc = {"interval_ms": self.interval * 1000, "seconds": round(time.time() - self.started, 1),
               "samples": self.samples, "cpu_seconds_by_thread_pool": {k: round(v, 2) for k, v in by_pool.most_common()},
               "libraries": dict(self.libraries.most_common()),
               "self": dict(self.own.most_common(80)), "total": dict(self.total.most_common(150))}
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, self.out)

    def start(self) -> None:
        thread = threading.Thread(target=self._loop, daemon=True, name="sampler")
        thread.start()
        self._me = thread.ident or 0
        atexit.register(self.dump)


def main() -> int:
    out, rest = Path(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:]
    Sampler(out, float(os.environ.get("BARQUE_SAMPLE_MS", "5")) / 1000).start()
    from barque_cli.main import main as barque

    result = barque(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
