"""The shape of the codebase: a pinned public surface and enforced import layers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import barque

ROOT = Path(__file__).resolve().parents[2]


def test_public_surface_is_pinned():
    assert sorted(barque.__all__) == [
        "Always", "BarqueError", "BranchResultError", "Failed", "Manual", "ParallelError", "Schedule", "asset",
        "asset_ref", "batches", "batches_by", "collect", "get", "group", "parallel", "parallel_map", "partitions", "partitions_from",
        "plan", "run", "run_many", "sensor", "sink", "task", "unsafe",
    ]


def test_every_public_name_resolves():
    for name in barque.__all__:
        assert getattr(barque, name) is not None


def test_importing_barque_does_not_load_the_fan_out_runtime():
    code = "import sys, barque; print('barque.fanout' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_decorators_return_the_function_unchanged():
    def f() -> int:
        return 1

    assert barque.asset(name="x", inputs={})(f) is f
    assert barque.task()(f) is f and barque.sensor()(f) is f and barque.sink("out.json")(f) is f


def test_import_layers_and_dependency_boundaries_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra: scripts/setup.sh installs it"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packages_type_check():
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert mypy, "mypy is part of the dev extra: scripts/setup.sh installs it"
    result = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
