"""scripts/test.sh splits the integration tier into two pytest sessions side by side: the files
its OPERATOR_SESSION array names, and the rest of tests/integration (that directory with those
files ignored). What can go wrong without a server: a name in the array that is no test module
of the tier (renamed, moved, misspelt), which would make the "operator" session fail to collect.

Pure: reads the script's text.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def operator_session() -> list[str]:
    text = (REPO / "scripts" / "test.sh").read_text()
    match = re.search(r"^OPERATOR_SESSION=\((.*?)^\)", text, re.S | re.M)
    assert match, "scripts/test.sh has no OPERATOR_SESSION=( ... ) array"
    return match.group(1).split()


def test_the_operator_session_names_only_test_modules_of_the_integration_tier() -> None:
    files = operator_session()
    assert files, "the operator session names no file"
    for name in files:
        path = REPO / name
        assert path.is_file(), f"scripts/test.sh OPERATOR_SESSION names {name}, which does not exist"
        assert path.parent == REPO / "tests" / "integration" and path.name.startswith("test_"), name
    assert len(set(files)) == len(files), "a file is named twice"
