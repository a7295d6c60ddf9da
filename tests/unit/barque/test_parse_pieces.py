"""Large files are parsed in pieces: the tree, its positions and the errors stay ast.parse's.

Real parts: ``parse_source`` and the parser on files written to a temporary directory, with
the piece size shrunk so that small sources are cut at every possible place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from barque.parsing import source

from .fixtures.parse import parse, parse_error, write

BLOCK = '''

@asset(inputs={{"x": b{prev}}})
def b{i}(x: int) -> int:
    """Block {i}: é ü ☃."""
    return x + {i}


class C{i}:
    def m(self):

        return {i}

'''

# Cut candidates that are not statement boundaries: each must fall back, never mis-parse.
TRICKY = [
    # a blank line and a column-0 decorator inside a string
    'DOC = """\n\n@asset()\ndef not_a_node():\n    pass\n"""\n',
    # a decorator separated from its function by a blank line
    "@asset()\n\ndef spaced() -> int:\n    return 1\n",
    # stacked decorators with a blank line between them
    '@sink("out.json")\n\n@asset()\ndef stacked() -> int:\n    return 1\n',
    # a bracket left open across a blank line and a column-0 "@" (matrix product)
    "PRODUCT = (\n    A\n\n@ B\n)\n",
    # a backslash continuation before a blank line is a syntax error in the whole file too,
    # so it is not used here; an f-string and a byte string with newlines are
    'NOTE = f"""\n\nclass NotAClass:\n    {1 + 1}\n"""\nRAW = b"""\n\n@x\n"""\n',
    # async functions
    "async def fetch() -> int:\n    return 1\n",
]


def source_text(blocks: int, extra: str = "") -> str:
    head = "from barque import asset, sink\n\n\n@asset()\ndef b0() -> int:\n    return 0\n"
    body = "".join(BLOCK.format(i=i, prev=i - 1) for i in range(1, blocks))
    return head + extra + body + extra


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "_PIECE", 64)


def dump(tree: ast.AST) -> str:
    return ast.dump(tree, include_attributes=True)


@pytest.mark.usefixtures("small_pieces")
@pytest.mark.parametrize("extra", ["", *TRICKY], ids=["plain", *(f"tricky{i}" for i in range(len(TRICKY)))])
def test_a_file_parsed_in_pieces_gives_the_tree_and_positions_of_ast_parse(extra: str) -> None:
    data = source_text(40, extra).encode()
    assert len(data) > 2 * source._PIECE
    assert dump(source.parse_source(data, "p.py")) == dump(ast.parse(data))


@pytest.mark.usefixtures("small_pieces")
def test_pieces_are_what_is_parsed_when_every_cut_is_a_statement_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    real = ast.parse

    def counting(data: bytes, *args: object, **kw: object) -> ast.Module:
        parsed.append(len(data))
        return real(data, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(source.ast, "parse", counting)
    data = source_text(40).encode()
    source.parse_source(data, "p.py")
    assert len(parsed) > 10  # pieces, and no whole-file fallback after them
    assert max(parsed) < len(data)


@pytest.mark.usefixtures("small_pieces")
def test_a_syntax_error_late_in_a_large_file_names_its_real_line(tmp_path: Path) -> None:
    text = source_text(40) + "\n\n@asset()\ndef broken(:\n    return 1\n"
    write(tmp_path, {"p.py": text})
    err = parse_error(tmp_path)
    assert err.where == f"p.py:{text.count(chr(10)) - 1}:12"
    assert "syntax error" in err.message


@pytest.mark.usefixtures("small_pieces")
def test_a_large_file_with_a_coding_cookie_is_read_in_its_encoding(tmp_path: Path) -> None:
    text = "# -*- coding: latin-1 -*-\n" + source_text(40).replace("é ü ☃", "é ü")
    (tmp_path / "p.py").write_bytes(text.encode("latin-1"))
    assert dump(source.parse_source(text.encode("latin-1"), "p.py")) == dump(ast.parse(text.encode("latin-1")))
    assert parse(tmp_path).nodes["p.py:b39"].line == text.splitlines().index("def b39(x: int) -> int:") + 1


@pytest.mark.usefixtures("small_pieces")
def test_a_large_file_with_windows_line_ends_keeps_its_line_numbers(tmp_path: Path) -> None:
    text = source_text(40)
    (tmp_path / "p.py").write_bytes(text.replace("\n", "\r\n").encode())
    graph = parse(tmp_path)
    assert graph.nodes["p.py:b39"].line == text.splitlines().index("def b39(x: int) -> int:") + 1
