"""The project's ``.env`` file, read as barca reads it: for the values of declared ``env=`` variables.

A declared variable that is not set in the environment takes its value from ``.env`` in the
project root, so a pipeline that calls ``load_dotenv()`` at import is keyed with the value it
runs with. The file is only read, never executed, and its values are not exported to steps: a
pipeline that needs them loads the file itself, as it does without barque.

The value is the one python-dotenv's ``load_dotenv()`` gives (its defaults): ``KEY=VALUE`` lines,
an ``export`` prefix, ``#`` comments (whole lines, and after whitespace in an unquoted value),
single quotes (``\\\\`` and ``\\'`` decoded), double quotes (``\\n``, ``\\t``, ``\\"`` ... decoded),
and ``${NAME}`` / ``${NAME:-default}`` expanded in every value, the environment winning over
keys above it in the file; the default applies only when the name is unset. A test compares
these against python-dotenv itself.

A declared name whose line this reader cannot take apart (a quoted value over several lines,
an unclosed quote) is keyed with the whole file's text instead: an edit of the file then re-runs
the step, which is wasteful but never stale. Pure, but for reading the file in ``declared_env_values``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping

Lookup = Callable[[str], "str | None"]

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=[^\S\r\n]*(.*)$")
_VARIABLE = re.compile(r"\$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}")
_SINGLE = re.compile(r"'((?:\\.|[^'\\])*)'[^\S\r\n]*(?:#.*)?$")
_DOUBLE = re.compile(r'"((?:\\.|[^"\\])*)"[^\S\r\n]*(?:#.*)?$')
_SINGLE_ESCAPES = re.compile(r"\\([\\'])")
_DOUBLE_ESCAPES = re.compile(r"\\([\\'\"abfnrtv])")
_DOUBLE_DECODED = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
UNPARSED = "\0unparsed .env line; keyed with the whole file:\n"


def parse_dotenv(text: str, environ: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """The variables ``text`` defines, and the names on lines that could not be read.

    ``environ`` feeds ``${NAME}`` expansion, ahead of the keys defined above in the file.
    """
    found: dict[str, str] = {}
    unread: set[str] = set()

    def lookup(name: str) -> str | None:
        return environ[name] if name in environ else found.get(name)

    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        name, raw = match.groups()
        value = _value(raw, lookup)
        if value is None:
            unread.add(name)
        else:
            found[name] = value
            unread.discard(name)
    return found, unread


def _value(raw: str, lookup: Lookup) -> str | None:
    if raw[:1] == "'":
        single = _SINGLE.match(raw)
        return _expand(_SINGLE_ESCAPES.sub(r"\1", single.group(1)), lookup) if single else None
    if raw[:1] == '"':
        double = _DOUBLE.match(raw)
        if double is None:
            return None
        return _expand(_DOUBLE_ESCAPES.sub(lambda m: _DOUBLE_DECODED[m.group(1)], double.group(1)), lookup)
    return _expand(re.sub(r"\s+#.*", "", raw).rstrip(), lookup)


def _expand(value: str, lookup: Lookup) -> str:
    def one(match: re.Match[str]) -> str:
        found = lookup(match.group("name"))
        return found if found is not None else (match.group("default") or "")

    return _VARIABLE.sub(one, value)


def declared_env_values(names: list[str] | set[str], environ: Mapping[str, str], root: str | Path) -> dict[str, str | None]:
    """Each declared name's value: the environment's, else ``<root>/.env``'s, else ``None`` (unset)."""
    wanted = sorted(names)
    missing = [n for n in wanted if n not in environ]
    text = _read_dotenv(Path(root)) if missing else ""
    values, unread = parse_dotenv(text, environ) if text else ({}, set())
    out: dict[str, str | None] = {}
    for name in wanted:
        if name in environ:
            out[name] = environ[name]
        elif name in unread:
            out[name] = UNPARSED + text
        else:
            out[name] = values.get(name)
    return out


def _read_dotenv(root: Path) -> str:
    path = root / ".env"
    try:
        # is_file() first: a FIFO or a folder named .env must not block or fail a run
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return ""
