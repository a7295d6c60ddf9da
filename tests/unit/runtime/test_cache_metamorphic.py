"""Metamorphic: after any edit, a cached run returns what a fresh ``--no-cache`` run returns.

hypothesis draws a seed for a small three-file project (``metamorphic.py``: constants, a
module-level ``if``, a ``global`` writer, helpers, a class with methods, imports between the
files, two assets with the same body in two files) and a few edit kinds (constants, helper
and method bodies, imports, decorator arguments, comments, whitespace). After each edit the
project runs twice in this process through ``barque.run``: on the store kept since the
first run, and with ``no_cache`` on a fresh store; the final values must be equal, and a
comment- or whitespace-only edit must execute no step.

Real: the local runner (forked workers) and local-folder stores in a temporary folder.
Budget: ``BARQUE_METAMORPHIC_EXAMPLES`` examples (default 4) of three edits each;
``bench/cache_soak.py`` runs many more.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .metamorphic import EDITS, edit_and_compare

EXAMPLES = int(os.environ.get("BARQUE_METAMORPHIC_EXAMPLES", "4"))
EDITS_PER_EXAMPLE = 3


@pytest.fixture(autouse=True)
def bytecode_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # Edits land within one second and often keep a file's size: with bytecode written, a stale
    # .pyc is there to be trusted, and the workers must not (barque_runtime.loader).
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    kinds=st.lists(st.sampled_from(sorted(EDITS)), min_size=EDITS_PER_EXAMPLE, max_size=EDITS_PER_EXAMPLE),
)
def test_a_cached_run_after_random_edits_returns_what_a_fresh_run_returns(seed: int, kinds: list[str]) -> None:
    # A plain temporary folder per example: pytest's numbered folders (tmp_path_factory) can
    # leave an unclosed scandir iterator behind when made this often, and warnings are errors.
    with tempfile.TemporaryDirectory() as tmp:
        assert edit_and_compare(Path(tmp), random.Random(seed), kinds) == []
