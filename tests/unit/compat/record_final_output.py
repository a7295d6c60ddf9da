"""Record which node barca 0.33 returns as ``final_output`` for generated graphs.

Run by hand where barca 0.33 is installed (it is not a test dependency)::

    python -m tests.unit.compat.record_final_output --barca /tmp/barca/venv/bin/barca --count 300

Each case is a random graph (assets, sensors, tasks, partitioned nodes, ``collect``,
``partitions_from``, an input read twice) written as a barca file. For every case this runs
``barca plan`` (the step order, per pool size) and, for a sample, ``barca get --json`` (the
``final_output`` itself, to confirm it is the plan's last asset), and writes
``final_output_cases.json`` beside this file, which ``test_final_output_cases.py`` replays.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASES = HERE / "final_output_cases.json"


def generate(rng: random.Random) -> str:
    """A barca file of 1 to 9 nodes, each reading only nodes defined before it."""
    keys = [f"k{i}" for i in range(rng.randint(1, 5))]
    count = rng.randint(1, 9)
    lines = ["from barca import asset, sensor, task, partitions, partitions_from, collect\n"]
    made: list[tuple[str, str, bool]] = []  # name, kind, partitioned
    for i in range(count):
        name = f"n{i}_{rng.choice(['a', 'z', 'm'])}"
        kind = rng.choices(["asset", "sensor", "task"], weights=[8, 1, 1])[0]
        readable = [m for m in made if m[1] != "task"]
        partitioned = kind != "sensor" and rng.random() < 0.3
        inputs: list[tuple[str, str]] = []
        derive: str | None = None
        if kind != "sensor" and readable:
            for src, _, src_parted in rng.sample(readable, k=min(len(readable), rng.choice([0, 1, 1, 1, 2, 3]))):
                if src_parted and not partitioned:
                    inputs.append((src, f"collect({src})"))
                else:
                    inputs.append((src, src))
            if inputs and rng.random() < 0.1:
                inputs.append((inputs[0][0] + "_again", inputs[0][1]))  # one upstream read twice
            plain = [m[0] for m in readable if not m[2] and m[1] == "asset"]
            if partitioned and plain and rng.random() < 0.25:
                derive = rng.choice(plain)
        args = []
        if inputs:
            args.append("inputs={" + ", ".join(f'"{p}": {v}' for p, v in inputs) + "}")
        params = [f"{p}: object" for p, _ in inputs]
        if partitioned:
            spec = f"partitions_from({derive})" if derive else f"partitions({keys!r})"
            args.append('partitions={"region": ' + spec + "}")
            params.insert(0, "region: str")
        lines.append(f"\n@{kind}({', '.join(args)})\ndef {name}({', '.join(params)}) -> object:\n    return {i}\n")
        made.append((name, kind, partitioned))
    if not any(m[1] == "asset" for m in made) and rng.random() < 0.5:
        lines.append("\n@asset()\ndef last_a() -> int:\n    return 0\n")
    return "".join(lines)


def _barca(barca: str, folder: Path, pool: int, *args: str) -> Any:
    env = {**os.environ, "BARCA_POOL_SIZE": str(pool)}
    done = subprocess.run([barca, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout)


def record(barca: str, count: int, seed: int, every_get: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    while len(cases) < count:
        source = generate(rng)
        pool = rng.choice([1, 2, 2, 3, 4])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "barca.toml").write_text("")
            (folder / "p.py").write_text(source)
            plan = _barca(barca, folder, pool, "plan", "p.py")
            if plan is None:
                continue  # a graph barca refuses: not a final_output case
            order = [s.rpartition(":")[2] for ph in plan["phases"] for st in ph["streams"] for s in st["steps"]]
            case: dict[str, Any] = {"pool": pool, "source": source, "plan": order}
            if len(cases) % every_get == 0:
                got = _barca(barca, folder, pool, "get", "p.py", "--json")
                if got is not None:
                    case["final_output"] = _node_of(got.get("final_output"))
        cases.append(case)
    return cases


def _node_of(output: Any) -> str | None:
    """The node an artifact pointer (or a partitioned node's map of them) belongs to."""
    if not isinstance(output, dict):
        return None
    first: dict[str, Any] = next(iter(output.values()), {})
    pointer: dict[str, Any] = output.get("_barca_artifact") or first.get("_barca_artifact") or {}
    folder = Path(pointer.get("path", "")).parent.name  # .barca/artifacts/p.py--<name>[_<dim>_<key>]/<hash>
    name = folder.partition("--")[2]
    return re.sub(r"_region_k\d+$", "", name) or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--barca", required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--every-get", type=int, default=5)
    ns = parser.parse_args()
    cases = record(ns.barca, ns.count, ns.seed, ns.every_get)
    CASES.write_text(json.dumps({"barca": "0.33.0", "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {CASES}")


if __name__ == "__main__":
    main()
