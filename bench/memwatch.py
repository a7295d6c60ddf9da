"""Run a command and measure the memory of its whole process tree (the runner and its workers).

    python bench/memwatch.py --json OUT.json [--interval 0.005] [--exclude-comm time] -- CMD ...

What it reports (all in MiB, 1 MiB = 2**20 bytes):

* ``max_single_rss_kernel``: ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after the
  command is reaped. On Linux this is the largest peak RSS of any *single* process among the
  command and every descendant that was waited for (the runner joins its workers, so they
  count); it is a maximum, not a sum. Exact: the kernel tracks it.
* ``per_process``: each process of the tree with its own peak RSS (``VmHWM`` from
  ``/proc/PID/status``, the last value read before it exited).
* ``sum_of_peaks_rss``: the sum of those per-process peaks. An upper bound on what the tree
  ever held at once (peaks need not coincide) and it counts pages shared after ``fork``
  once per process.
* ``peak_concurrent_rss``: the largest sum of ``VmRSS`` over the live tree at one sampling
  instant (sampled every ``--interval`` seconds, so a short spike can be missed). Shared
  pages count once per process here too.
* ``peak_concurrent_pss``: the same with ``Pss`` from ``/proc/PID/smaps_rollup``, which
  splits each shared page between the processes that map it: the fairest "memory this tree
  costs the machine" figure.

Processes whose command name is given with ``--exclude-comm`` (e.g. ``/usr/bin/time`` wrapped
around the runner) are measured but left out of the sums. The exit code is the command's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

KIB_PER_MIB = 1024


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return None


def _ppid(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _status_kib(pid: int) -> dict[str, int | str]:
    text = _read(f"/proc/{pid}/status")
    out: dict[str, int | str] = {}
    if text is None:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Name":
            out["comm"] = value.strip()
        elif key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def _pss_kib(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/smaps_rollup")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


class Watcher:
    def __init__(self, root: int, exclude: set[str]) -> None:
        self.root = root
        self.exclude = exclude
        self.parents: dict[int, int | None] = {}
        self.procs: dict[int, dict[str, object]] = {}
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_count = 0
        self.samples = 0

    def tree(self) -> list[int]:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        live = set(pids)
        for pid in pids:
            if pid not in self.parents:
                self.parents[pid] = _ppid(pid)
        for gone in [p for p in self.parents if p not in live]:
            del self.parents[gone]  # pids can be reused: forget the dead
        members = {self.root}
        changed = True
        while changed:
            changed = False
            for pid, parent in self.parents.items():
                if parent in members and pid not in members:
                    members.add(pid)
                    changed = True
        return sorted(p for p in members if p in live)

    def sample(self) -> None:
        rss_sum = pss_sum = count = 0
        for pid in self.tree():
            st = _status_kib(pid)
            if "VmRSS" not in st:
                continue  # exited, or a zombie
            info = self.procs.setdefault(pid, {"pid": pid, "comm": st.get("comm", "?"), "hwm_kib": 0, "ppid": self.parents.get(pid)})
            info["hwm_kib"] = max(int(info["hwm_kib"]), int(st.get("VmHWM", 0)))  # type: ignore[call-overload]
            if st.get("comm") in self.exclude:
                continue
            pss = _pss_kib(pid)
            rss_sum += int(st["VmRSS"])
            pss_sum += pss or 0
            count += 1
        self.peak_rss = max(self.peak_rss, rss_sum)
        self.peak_pss = max(self.peak_pss, pss_sum)
        self.peak_count = max(self.peak_count, count)
        self.samples += 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", required=True, help="where to write the measurements")
    parser.add_argument("--interval", type=float, default=0.005, help="seconds between samples of /proc")
    parser.add_argument("--exclude-comm", action="append", default=[], help="leave processes with this name out of the sums")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    watcher = Watcher(proc.pid, set(args.exclude_comm))
    while proc.poll() is None:
        watcher.sample()
        time.sleep(args.interval)
    wall = time.perf_counter() - t0
    kernel_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    counted = [p for p in watcher.procs.values() if p["comm"] not in watcher.exclude]
    doc = {
        "command": cmd,
        "exit_code": proc.returncode,
        "wall_seconds": round(wall, 3),
        "samples": watcher.samples,
        "interval_seconds": args.interval,
        "max_single_rss_kernel_mib": round(kernel_max / KIB_PER_MIB, 1),
        "sum_of_peaks_rss_mib": round(sum(int(p["hwm_kib"]) for p in counted) / KIB_PER_MIB, 1),  # type: ignore[call-overload]
        "peak_concurrent_rss_mib": round(watcher.peak_rss / KIB_PER_MIB, 1),
        "peak_concurrent_pss_mib": round(watcher.peak_pss / KIB_PER_MIB, 1),
        "max_processes_at_once": watcher.peak_count,
        "per_process": [
            {"pid": p["pid"], "ppid": p["ppid"], "comm": p["comm"], "peak_rss_mib": round(int(p["hwm_kib"]) / KIB_PER_MIB, 1), "excluded": p["comm"] in watcher.exclude}  # type: ignore[call-overload]
            for p in sorted(watcher.procs.values(), key=lambda p: int(p["pid"]))  # type: ignore[call-overload]
        ],
    }
    with open(args.json, "w") as fh:
        json.dump(doc, fh, indent=2)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
