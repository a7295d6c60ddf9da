"""`.env` values for declared `env=` variables: the value python-dotenv's `load_dotenv()` gives.

Real: python-dotenv itself is the reference the reader is compared with (named cases and
generated files); the file system for `declared_env_values`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barque.dotenv import UNPARSED, declared_env_values, parse_dotenv

ENVIRON = {"HOME": "/home/u", "EMPTY": ""}


def reference(text: str) -> dict[str, str]:
    """What load_dotenv() sets: python-dotenv's own reading with its defaults (the environment wins)."""
    from dotenv.main import DotEnv

    with mock.patch.dict(os.environ, ENVIRON, clear=True):
        values = DotEnv(None, stream=io.StringIO(text), interpolate=True, override=False).dict()
    return {k: v for k, v in values.items() if v is not None}


CASES = {
    "plain": "A=1\nB=two words\n",
    "export": "export TOKEN=abc\n",
    "comments": "# comment\nA=1 # trailing\nB=a#b\n",
    "single quotes": "A='single ${HOME} \\n \\' \\\\'\n",
    "double quotes": 'A="double ${B} \\n q\\"uote"\nB=x\n',
    "expansion from above": 'B=x\nA="d ${B}"\nC=${B}/c\n',
    "environment wins in expansion": "HOME=/elsewhere\nA=${HOME}\n",
    "default when unset": "A=${UNSET:-fallback}\n",
    "no default when empty": "A=${EMPTY:-fallback}\n",
    "not a line": "bad line\nA=1\n",
    "empty value": "A=\n",
    "spaces around": "A = spaced \n",
    "redefined": "A=1\nA=2\n",
    "quoted then comment": "A='x' # note\nB=\"y\"   # note\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_values_are_what_python_dotenv_gives(text: str):
    values, unread = parse_dotenv(text, ENVIRON)
    assert values == reference(text) and unread == set()


_NAME = st.sampled_from(["A", "B", "TOKEN", "HOME"])
_TEXT = st.text(alphabet="abc xyz/.-_:{}$", max_size=12)
_VALUE = st.one_of(
    _TEXT.filter(lambda v: not v.startswith(("'", '"'))),
    _TEXT.map(lambda v: f"'{v}'"),
    _TEXT.map(lambda v: f'"{v}"'),
    _NAME.map(lambda n: "${" + n + "}"),
    st.tuples(_NAME, _TEXT.filter(lambda v: "}" not in v)).map(lambda t: "${" + t[0] + ":-" + t[1] + "}"),
)
_LINE = st.one_of(
    st.tuples(_NAME, _VALUE).map(lambda t: f"{t[0]}={t[1]}"),
    st.tuples(_NAME, _VALUE).map(lambda t: f"export {t[0]}={t[1]}"),
    _TEXT.map(lambda v: f"# {v}"),
)


@settings(max_examples=int(os.environ.get("BARQUE_DOTENV_EXAMPLES", "300")), deadline=None)
@given(st.lists(_LINE, max_size=6))
def test_generated_files_read_as_python_dotenv_reads_them(lines: list[str]):
    text = "\n".join(lines) + "\n"
    values, unread = parse_dotenv(text, ENVIRON)
    expected = reference(text)
    assert {k: v for k, v in values.items() if k not in unread} == {k: v for k, v in expected.items() if k not in unread}


def test_the_environment_wins_over_the_file(tmp_path: Path):
    (tmp_path / ".env").write_text("REGION=file\n")
    assert declared_env_values(["REGION"], {"REGION": "env"}, tmp_path) == {"REGION": "env"}


def test_a_declared_variable_missing_from_the_environment_comes_from_the_file(tmp_path: Path):
    (tmp_path / ".env").write_text("REGION=file\nOTHER=x\n")
    assert declared_env_values(["REGION", "UNSET"], {}, tmp_path) == {"REGION": "file", "UNSET": None}


def test_a_line_that_cannot_be_read_keys_the_variable_with_the_whole_file(tmp_path: Path):
    text = 'CERT="-----BEGIN\nabc\n-----END"\n'
    (tmp_path / ".env").write_text(text)
    assert declared_env_values(["CERT"], {}, tmp_path) == {"CERT": UNPARSED + text}


def test_no_file_or_a_fifo_named_env_gives_unset_values_without_blocking(tmp_path: Path):
    assert declared_env_values(["A"], {}, tmp_path) == {"A": None}
    os.mkfifo(tmp_path / ".env")
    assert declared_env_values(["A"], {}, tmp_path) == {"A": None}
