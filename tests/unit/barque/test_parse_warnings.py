"""barca's static warnings: an unused input and an undeclared environment read, found in the
function body without running it (``parsing.checks``). Messages are barca 0.33's words.

Real parts: the parser and files written to a temporary directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.parsing.checks import summary_lines

from barque.model import Graph
from barque.parsing import parse_project

from .fixtures.parse import write


def parse(root: Path) -> Graph:
    return parse_project([root / "p.py"], warnings=True)

HEADER = "import os\nfrom barca import asset, sensor\n\n@asset()\ndef raw() -> list:\n    return [1]\n\n"


def warnings(tmp_path: Path, body: str) -> list[tuple[str, str, str]]:
    write(tmp_path, {"p.py": HEADER + body})
    return [(w.node, w.kind, w.name) for w in parse(tmp_path).warnings]


def test_an_input_the_body_never_names_is_reported(tmp_path: Path) -> None:
    assert warnings(tmp_path, '@asset(inputs={"raw": raw})\ndef report(raw: list) -> int:\n    return 42\n') == [
        ("p.py:report", "unused_input", "raw")
    ]


def test_the_unused_input_message_is_barcas(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '@asset(inputs={"raw": raw})\ndef report(raw):\n    return 42\n'})
    assert summary_lines(parse(tmp_path).warnings) == [
        "p.py:report never uses its input `raw`. It is still loaded in full each time the step runs, and it counts "
        "toward the step's cache key. Use it, remove it from inputs=, or rename the parameter `_raw` if it is there "
        "for ordering only (a `_` input is not loaded and never flagged)"
    ]


@pytest.mark.parametrize(
    "body",
    [
        "    return len(raw)\n",
        '    return duckdb.sql("select * from raw")\n',
        "    return [x for x in raw]\n",
        "    return locals()\n",
        "    return con.execute(QUERY)\n",
        "    pass\n",
        '    """uses raw"""\n    raise NotImplementedError\n',
    ],
    ids=["read", "in-sql-text", "comprehension", "dynamic-access", "unreadable-query", "stub", "raise-only"],
)
def test_an_input_barca_would_not_flag_is_not_reported(tmp_path: Path, body: str) -> None:
    assert warnings(tmp_path, f'@asset(inputs={{"raw": raw}})\ndef report(raw):\n{body}') == []


def test_an_ordering_only_input_and_a_kwargs_function_are_not_reported(tmp_path: Path) -> None:
    body = '@asset(inputs={"_raw": raw})\ndef a(_raw):\n    return 1\n\n@asset(inputs={"raw": raw})\ndef b(**kw):\n    return 1\n'
    assert warnings(tmp_path, body) == []


def test_an_input_from_a_sensor_is_not_reported(tmp_path: Path) -> None:
    body = "@sensor()\ndef tick():\n    return True\n\n@asset(inputs={'tick': tick})\ndef a(tick):\n    return 1\n"
    assert warnings(tmp_path, body) == []


def test_a_docstring_naming_the_input_does_not_count_as_a_use(tmp_path: Path) -> None:
    body = '@asset(inputs={"raw": raw})\ndef report(raw):\n    """Counts raw."""\n    return 1\n'
    assert warnings(tmp_path, body) == [("p.py:report", "unused_input", "raw")]


def test_only_a_whole_word_in_a_string_counts(tmp_path: Path) -> None:
    body = '@asset(inputs={"raw": raw})\ndef report(raw):\n    return "raws and draw"\n'
    assert warnings(tmp_path, body) == [("p.py:report", "unused_input", "raw")]


def test_environment_reads_not_declared_in_env_are_reported(tmp_path: Path) -> None:
    body = ('@asset(env=["A"])\ndef a() -> str:\n'
            '    return os.environ.get("REGION", "") + os.getenv("A", "") + os.environ["ZONE"]\n')
    assert warnings(tmp_path, body) == [("p.py:a", "undeclared_env", "REGION"), ("p.py:a", "undeclared_env", "ZONE")]


def test_undeclared_reads_are_summed_up_in_one_line_as_barca_prints_it(tmp_path: Path) -> None:
    body = '@asset()\ndef a():\n    return os.getenv("B")\n\n@asset()\ndef b():\n    return os.getenv("A")\n'
    write(tmp_path, {"p.py": HEADER + body})
    assert summary_lines(parse(tmp_path).warnings) == ["2 steps read environment variables not declared in env=: A, B"]


def test_a_parse_that_does_not_ask_for_warnings_reads_no_body(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '@asset(inputs={"raw": raw})\ndef report(raw):\n    return 42\n'})
    assert parse_project([tmp_path / "p.py"]).warnings == ()


def test_warnings_are_kept_to_the_nodes_asked_for(tmp_path: Path) -> None:
    body = '@asset(inputs={"raw": raw})\ndef a(raw):\n    return 1\n\n@asset(inputs={"raw": raw})\ndef b(raw):\n    return 1\n'
    write(tmp_path, {"p.py": HEADER + body})
    assert [w.node for w in parse(tmp_path).warnings_for(["p.py:b"])] == ["p.py:b"]


def test_environment_reads_in_project_helpers_the_node_reaches_are_reported(tmp_path: Path) -> None:
    write(tmp_path, {
        "helpers.py": 'import os\ndef region():\n    return os.environ.get("REGION")\nclass C:\n    def m(self):\n        return os.getenv("M")\n',
        "p.py": "from barca import asset\nfrom helpers import region, C\n\n@asset()\ndef a():\n    return region() + C().m()\n",
    })
    assert [(w.kind, w.name) for w in parse(tmp_path).warnings] == [("undeclared_env", "M"), ("undeclared_env", "REGION")]
