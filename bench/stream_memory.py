"""Peak memory of a 1 GiB stream passed through three steps (issue 12's streaming target).

    .venv/bin/python bench/stream_memory.py [--mib 1024] [--keep DIR] [--store s3://bucket/prefix]

Writes a project whose ``raw`` asset yields ``--mib`` MiB in 1 MiB pieces (every piece
distinct, so no two stored chunks are equal and dedupe cannot flatter the figure), a
``reversed_`` asset that takes it as ``Iterator[bytes]`` and yields every segment reversed,
and a ``digest`` asset that takes that as an iterator and returns its length and sha256.
Runs ``barque run`` cold under ``bench/memwatch.py`` (the whole process tree: runner and
workers) and checks the digest against one computed here (read from a second run, served
from cache). Prints one JSON line with the
figures; the target is a sum of per-process peak RSS under 200 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_MB = 200

PIPELINE = '''
import hashlib
from typing import Iterator
from barque import asset

MIB = 1 << 20

def piece(i: int) -> bytes:
    return i.to_bytes(8, "big") * (MIB // 8)

@asset()
def raw():
    for i in range({mib}):
        yield piece(i)

@asset(inputs={{"raw": raw}})
def reversed_(raw: Iterator[bytes]):
    for segment in raw:
        yield segment[::-1]

@asset(inputs={{"data": reversed_}})
def digest(data: Iterator[bytes]) -> dict:
    h, n = hashlib.sha256(), 0
    for segment in data:
        h.update(segment)
        n += len(segment)
    return {{"bytes": n, "sha256": h.hexdigest()}}
'''


def expected(mib: int, segment: int) -> dict:
    """The digest of the reversed stream, computed the way the store cuts it (in segments)."""
    h, n, buffer = hashlib.sha256(), 0, bytearray()
    for i in range(mib):
        buffer += i.to_bytes(8, "big") * ((1 << 20) // 8)
        while len(buffer) >= segment:
            h.update(bytes(buffer[:segment])[::-1])
            del buffer[:segment]
            n += segment
    if buffer:
        h.update(bytes(buffer)[::-1])
        n += len(buffer)
    return {"bytes": n, "sha256": h.hexdigest()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024, help="stream size in MiB")
    parser.add_argument("--keep", help="project folder to use and keep (default: a temporary one, removed)")
    parser.add_argument("--store", help="the store (default .barque/ in the project); an s3:// one reads the AWS_* settings")
    args = parser.parse_args()
    from barque.streams import SEGMENT_BYTES

    with tempfile.TemporaryDirectory(prefix="barque-stream-bench-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pipeline.py").write_text(PIPELINE.format(mib=args.mib))
        out = folder / "mem.json"
        store = ["--store", args.store] if args.store else []
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(HERE / "memwatch.py"), "--json", str(out), "--", sys.executable, "-m", "barque_cli.main", "run", "pipeline.py", "digest", "--workers", "1", *store],
            cwd=folder, capture_output=True, text=True,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            return 1
        # memwatch discards the command's stdout: the value comes from a second, cached run.
        again = subprocess.run([sys.executable, "-m", "barque_cli.main", "run", "pipeline.py", "digest", *store], cwd=folder, capture_output=True, text=True)
        summary = json.loads(again.stdout.strip().splitlines()[-1])
        mem = json.loads(out.read_text())
        ok = summary["final_output"] == expected(args.mib, SEGMENT_BYTES)
        peak = mem["sum_of_peaks_rss_mib"]
        report = {
            "stream_mib": args.mib,
            "store": args.store or ".barque/ (local folder)",
            "segment_mib": SEGMENT_BYTES / (1 << 20),
            "wall_seconds": round(wall, 1),
            "digest_matches": ok,
            "sum_of_peaks_rss_mib": peak,
            "peak_concurrent_pss_mib": mem["peak_concurrent_pss_mib"],
            "max_single_rss_kernel_mib": mem["max_single_rss_kernel_mib"],
            "processes": len(mem["per_process"]),
            "target_mb": TARGET_MB,
            "pass": ok and peak * (1 << 20) < TARGET_MB * 10**6,
            "load_1min_before_after": [load_before, os.getloadavg()[0]],
        }
        print(json.dumps(report))
        return 0 if report["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
