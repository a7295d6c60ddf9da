"""Soak the cache: many random projects and edits, each cached run checked against a fresh one.

The long form of ``tests/unit/runtime/test_cache_metamorphic.py`` (same projects and edits,
from ``tests/unit/runtime/metamorphic.py``): for each of ``--projects`` random projects,
``--edits`` random edits, and after each a cached run and a ``--no-cache`` run on a fresh
store, in this process through ``barque.run``. Prints one JSON line: edits tried (by kind),
stale values found, comment/whitespace edits that re-ran a step, and the wall time; exits 1
when anything went wrong. Run it from the checkout with its ``.venv``:

    .venv/bin/python bench/cache_soak.py --projects 150 --edits 10 --seed 7 --write bench/cache_soak.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for tests.unit.runtime

from tests.unit.runtime.metamorphic import EDITS, edit_and_compare  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--edits", type=int, default=10, help="edits per project")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", metavar="JSON", help="also write the result there (bench/cache_soak.json is rendered into RESULTS.md)")
    args = parser.parse_args(argv)
    # Edits land within a second, often at the same size: bytecode is written, so a stale .pyc
    # is there to be trusted, and the workers must not (barque_runtime.loader).
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    commit = _commit()  # before the run: the code being soaked, not what was committed meanwhile
    rnd = random.Random(args.seed)
    tried: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    started = time.perf_counter()
    for project in range(args.projects):
        kinds = [rnd.choice(sorted(EDITS)) for _ in range(args.edits)]
        tried.update(kinds)
        with tempfile.TemporaryDirectory() as tmp:
            found = edit_and_compare(Path(tmp), random.Random(rnd.getrandbits(32)), kinds)
        problems += [f"project {project}: {p}" for p in found]
    stale = [p for p in problems if "!=" in p]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "command": " ".join(["bench/cache_soak.py", *(argv if argv is not None else sys.argv[1:])]),
        "projects": args.projects,
        "edits_tried": sum(tried.values()),
        "by_kind": dict(sorted(tried.items())),
        "stale_values": len(stale),
        "noise_reruns": len(problems) - len(stale),
        "problems": problems[:20],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    if args.write:
        Path(args.write).write_text(json.dumps(result, indent=2) + "\n")
    return 1 if problems else 0


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
