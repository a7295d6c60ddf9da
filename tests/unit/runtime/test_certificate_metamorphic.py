"""Metamorphic: after random edits of a project and of its state, a run the certificate answers
(``barque_cli.fastrun``) gives what the full path gives for that same state, and never answers
when the full path would execute a step.

Real parts: the console entry and ``python -m barque_cli.main`` (the full path, which neither
reads nor writes certificates) in child processes, the project's own ``.barque/`` store and
history. The projects and code edits are ``metamorphic.py``'s; the state edits are this
module's: a ``BARQUE_*`` variable set or changed, the store key set or changed, a folder
appearing beside an import, a blob corrupted or removed, a commit record removed, nothing.

Budget: ``BARQUE_CERTIFICATE_EXAMPLES`` examples (default 3) of three edits each.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .certruns import Answer, console, history, without_fresh
from .metamorphic import EDITS as CODE_EDITS
from .metamorphic import initial, write_project

EXAMPLES = int(os.environ.get("BARQUE_CERTIFICATE_EXAMPLES", "3"))
EDITS_PER_EXAMPLE = 3
RUN = ("run", "pipeline.py", "--workers", "2")
State = dict[str, Any]  # "project": the choices, "env": the variables every run gets


def _files(folder: Path, under: str) -> list[Path]:
    return sorted(p for p in (folder / ".barque" / under).rglob("*") if p.is_file())


def _corrupt_blob(rnd: random.Random, folder: Path, state: State) -> None:
    blobs = _files(folder, "blobs")
    if blobs:
        blob = rnd.choice(blobs)
        data = blob.read_bytes()
        blob.write_bytes(data[:-1] + bytes([(data[-1] + 1) % 256]) if data else b"x")


def _remove(under: str) -> Callable[[random.Random, Path, State], None]:
    def remove(rnd: random.Random, folder: Path, state: State) -> None:
        found = _files(folder, under)
        if found:
            rnd.choice(found).unlink()
    return remove


def _env(name: str) -> Callable[[random.Random, Path, State], None]:
    def change(rnd: random.Random, folder: Path, state: State) -> None:
        state["env"] = {**state["env"], name: f"v{rnd.randrange(3)}"}
    return change


def _folder_beside_import(rnd: random.Random, folder: Path, state: State) -> None:
    beside = folder / rnd.choice(("util", "mid"))
    if beside.is_dir():
        beside.rmdir()
    else:
        beside.mkdir()


def _code(kind: str) -> Callable[[random.Random, Path, State], None]:
    def edit(rnd: random.Random, folder: Path, state: State) -> None:
        state["project"] = CODE_EDITS[kind][0](rnd, state["project"])
        write_project(folder, state["project"])
    return edit


EDITS: dict[str, Callable[[random.Random, Path, State], None]] = {
    **{f"code: {kind}": _code(kind) for kind in CODE_EDITS},
    "a BARQUE_ variable": _env("BARQUE_SOMETHING"),
    "the store key": _env("BARQUE_STORE_KEY"),
    "a folder beside an import": _folder_beside_import,
    "a blob corrupted": _corrupt_blob,
    "a blob removed": _remove("blobs"),
    "a commit record removed": _remove("cache"),
    "nothing": lambda rnd, folder, state: None,
}


def _full(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The full path on the same state: ``barque_cli.main``, which reads no certificate."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BARQUE_", "BARCA_"))}
    return subprocess.run([sys.executable, "-m", "barque_cli.main", *RUN], cwd=folder, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def _compare(folder: Path, fast: Answer, env: dict[str, str], label: str) -> list[str]:
    """What differs between the certificate's answer and the full path's on the same state."""
    full = _full(folder, env)
    problems = []
    if (fast.code, fast.stderr) != (full.returncode, full.stderr):
        problems.append(f"{label}: exit/stderr {fast.code} {fast.stderr!r} != {full.returncode} {full.stderr!r}")
    expected = Answer(full.returncode, full.stdout, full.stderr, "full", []).summary
    if expected["steps_executed"]:
        problems.append(f"{label}: answered from the certificate, but the full path executed {expected['steps_executed']} steps")
    if without_fresh(fast.summary) != without_fresh(expected):
        problems.append(f"{label}: summary {without_fresh(fast.summary)} != {without_fresh(expected)}")
    rows = history(folder)
    if without_fresh(rows[0]) != without_fresh(rows[1]):
        problems.append(f"{label}: history row {rows[1]} != {rows[0]}")
    return problems


def edit_and_compare(folder: Path, rnd: random.Random, kinds: list[str]) -> list[str]:
    """Run a random project until it is certified, then per edit: edit, answer through the console
    entry, and when the certificate answered, run the full path on the same state and compare."""
    state: State = {"project": initial(rnd), "env": {}}
    write_project(folder, state["project"])
    for _ in range(2):
        assert console(*RUN, cwd=folder).code == 0
    first = console(*RUN, cwd=folder)
    problems = [] if first.path == "fast" else ["the unedited project was not answered from its certificate"]
    problems += _compare(folder, first, {}, "unedited")
    for i, kind in enumerate(kinds):
        EDITS[kind](rnd, folder, state)
        answer = console(*RUN, cwd=folder, env=state["env"])
        if answer.path == "fast":
            problems += _compare(folder, answer, state["env"], f"edit {i} ({kind})")
    return problems


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    kinds=st.lists(st.sampled_from(sorted(EDITS)), min_size=EDITS_PER_EXAMPLE, max_size=EDITS_PER_EXAMPLE),
)
def test_the_certificate_answers_what_the_full_path_answers_and_never_when_a_step_would_run(seed: int, kinds: list[str]) -> None:
    # A plain temporary folder per example (as test_cache_metamorphic.py, for the same reason).
    with tempfile.TemporaryDirectory() as tmp:
        assert edit_and_compare(Path(tmp), random.Random(seed), kinds) == []

