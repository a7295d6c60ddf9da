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
        "Always", "BarqueError", "Manual", "Schedule", "asset", "asset_ref", "collect",
        "partitions", "partitions_from", "plan", "run", "sensor", "sink", "task",
    ]


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
