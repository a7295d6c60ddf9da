"""The README's compatibility table is true: every row that can run here runs, and the README
shows exactly the table in ``table.py``.

Real: the `barque` CLI in a child process, in a fresh folder per row (see ``checks.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .checks import CHECKS
from .table import README, ROWS, Row, markdown, readme_table

RUNNABLE = [r for r in ROWS if r.check]


@pytest.mark.parametrize("row", RUNNABLE, ids=[r.check or "" for r in RUNNABLE])
def test_row(row: Row, tmp_path: Path) -> None:
    assert row.check is not None
    CHECKS[row.check](tmp_path, row.status)


def test_the_readme_shows_the_table() -> None:
    shown = readme_table(README.read_text(encoding="utf-8"))
    assert shown is not None, "README.md lost the compatibility table's markers"
    assert shown == markdown(), "README.md and tests/unit/compat/table.py disagree: python -m tests.unit.compat.table --write"


def test_every_row_runs_or_says_why_not() -> None:
    assert [r.barca for r in ROWS if (r.check is None) == (r.untested is None)] == []


def test_every_check_belongs_to_one_row() -> None:
    named = [r.check for r in RUNNABLE]
    assert sorted(named) == sorted(CHECKS) and len(set(named)) == len(named)


def test_every_row_that_is_not_the_same_says_how_or_why() -> None:
    assert [r.barca for r in ROWS if r.status != "same" and not r.barque.strip()] == []
