"""The parse cache serves exactly what a fresh parse would return, and nothing it cannot vouch for.

Each test compares ``parse_project`` (cache on) with ``parse_project(use_cache=False)`` on the
same files: the graph (nodes in the same order) or the same error. hypothesis drives random
edits of the metamorphic test's three-file projects and of their raw text (lines deleted,
duplicated, files added that change what an import names), corruptions of the entry, and
content changes that keep the size and the mtime. Real: files in a temporary folder.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barque.errors import PipelineDefinitionError
from barque.parsing import build, cache, parse_project

from ..runtime.metamorphic import EDITS, initial, render

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def outcome(folder: Path, use_cache: bool, hashes: bool = True, target: str = "pipeline.py") -> tuple[Any, ...]:
    """The graph (and its node order) or the error, of parsing ``target`` in ``folder``."""
    try:
        graph = parse_project([str(folder / target)], hashes=hashes, use_cache=use_cache)
    except PipelineDefinitionError as err:
        return ("error", str(err))
    return ("graph", graph, list(graph.nodes))


def write(folder: Path, files: dict[str, str]) -> None:
    """The files, in a project that has run before (its ``.barque/``, where the cache lives, is there)."""
    (folder / ".barque").mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def entries(folder: Path) -> list[Path]:
    return sorted((folder / cache.FOLDER).glob("*.json"))


class Parses:
    """Counts fresh parses, so a test can tell a hit from a miss."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = build.parse_files

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(build, "parse_files", counting)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Parses:
    return Parses(monkeypatch)


def text_edit(rnd: random.Random, files: dict[str, str]) -> dict[str, str]:
    """A raw edit that the project generator does not make: a line deleted, duplicated or
    swapped, a digit changed, or a new file that changes what a name or an import means."""
    name = rnd.choice(sorted(files))
    lines = files[name].split("\n")
    i = rnd.randrange(len(lines))
    kind = rnd.randrange(6)
    out = dict(files)
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(i, lines[rnd.randrange(len(lines))])
    elif kind == 2:
        j = rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == 3:
        lines[i] = "".join(str((int(c) + 1) % 10) if c.isdigit() else c for c in lines[i])
    elif kind == 4:  # a project module appears where an outside one (or none) was
        out[rnd.choice(["extra.py", "helpers2.py", "util2.py"])] = "from barque import asset\nVALUE = 3\n\ndef scale(x):\n    return x\n"
        lines.insert(0, rnd.choice(["import extra", "from helpers2 import scale as other", "import util2"]))
    else:  # the folder becomes a package: the root, node ids and imports change
        out["__init__.py"] = ""
    out[name] = "\n".join(lines)
    return out


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), steps=st.lists(st.sampled_from([*EDITS, "text"]), min_size=1, max_size=6))
def test_after_any_edit_the_cached_parse_equals_a_fresh_parse(tmp_path_factory: pytest.TempPathFactory, seed: int, steps: list[str]) -> None:
    folder = tmp_path_factory.mktemp("edits")
    rnd = random.Random(seed)
    project = initial(rnd)
    files = render(project)
    write(folder, files)
    assert outcome(folder, True) == outcome(folder, False)
    for kind in steps:
        if kind == "text":
            files = text_edit(rnd, files)
        else:
            project = EDITS[kind][0](rnd, project)
            files = {**files, **render(project)}
        write(folder, files)
        for hashes in (True, False):
            assert outcome(folder, True, hashes) == outcome(folder, False, hashes), kind


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), cut=st.floats(0.0, 1.0), flip=st.integers(0, 10**9), how=st.sampled_from(["truncate", "flip", "empty", "append"]))
def test_a_corrupt_or_truncated_entry_is_ignored_and_rewritten(
    tmp_path_factory: pytest.TempPathFactory, seed: int, cut: float, flip: int, how: str
) -> None:
    folder = tmp_path_factory.mktemp("corrupt")
    write(folder, render(initial(random.Random(seed))))
    fresh = outcome(folder, False)
    assert outcome(folder, True) == fresh
    (entry,) = entries(folder)
    data = entry.read_bytes()
    if how == "truncate":
        damaged = data[: int(len(data) * cut)]
    elif how == "flip":
        i = flip % len(data)
        damaged = data[:i] + bytes([data[i] ^ (1 + flip % 255)]) + data[i + 1 :]
    elif how == "empty":
        damaged = b""
    else:
        damaged = data + b" "
    entry.write_bytes(damaged)
    assert outcome(folder, True) == fresh
    assert cache.load(folder, ["pipeline.py"], True, False) is not None  # rewritten sound


def test_an_entry_with_a_valid_digest_but_a_shape_this_parser_does_not_write_is_a_miss(tmp_path: Path, parses: Parses) -> None:
    write(tmp_path, render(initial(random.Random(1))))
    fresh = outcome(tmp_path, False)
    outcome(tmp_path, True)
    (entry,) = entries(tmp_path)
    for body in (b"[]", b'{"format": 1}', b'{"format": 1, "root": 3}', b"not json", "\"\ud800\"".encode("utf-8", "surrogatepass")):
        entry.write_bytes(cache._seal(body) + b"\n" + body)
        before = parses.count
        assert outcome(tmp_path, True) == fresh
        assert parses.count == before + 1


def test_a_node_row_of_the_wrong_length_is_a_miss(tmp_path: Path, parses: Parses) -> None:
    import json

    write(tmp_path, render(initial(random.Random(2))))
    fresh = outcome(tmp_path, False)
    outcome(tmp_path, True)
    (entry,) = entries(tmp_path)
    doc = json.loads(entry.read_bytes().partition(b"\n")[2])
    nodes = doc["graph"][1]  # Graph's fields in order: root, nodes, files, warnings
    first = next(iter(nodes))
    nodes[first] = nodes[first][:-1]
    body = json.dumps(doc).encode()
    entry.write_bytes(cache._seal(body) + b"\n" + body)
    assert outcome(tmp_path, True) == fresh
    assert parses.count == 3  # the fresh one, the first cached one, and this miss


def test_an_unchanged_project_is_not_parsed_again(tmp_path: Path, parses: Parses) -> None:
    write(tmp_path, render(initial(random.Random(3))))
    first = outcome(tmp_path, True)
    second = outcome(tmp_path, True)
    assert parses.count == 1
    assert first == second == outcome(tmp_path, False)


def test_a_content_change_that_keeps_size_and_mtime_is_seen(tmp_path: Path, parses: Parses) -> None:
    files = render(initial(random.Random(4)))
    write(tmp_path, files)
    outcome(tmp_path, True)
    util = tmp_path / "util.py"
    before = util.stat()
    text = util.read_text()
    i = next(i for i, c in enumerate(text) if c.isdigit())
    changed = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :]  # a constant, same size
    assert len(changed) == len(text) and changed != text
    util.write_text(changed)
    os.utime(util, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert util.stat().st_mtime_ns == before.st_mtime_ns and util.stat().st_size == before.st_size
    assert outcome(tmp_path, True) == outcome(tmp_path, False)
    assert parses.count == 3  # the first, the one after the change, the fresh one


def test_the_same_content_at_another_path_gets_its_own_graph(tmp_path: Path) -> None:
    files = render(initial(random.Random(5)))
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        write(folder, files)
    graph_a = parse_project([str(a / "pipeline.py")])
    graph_b = parse_project([str(b / "pipeline.py")])
    assert graph_a.root == str(a) and graph_b.root == str(b)
    assert graph_b == parse_project([str(b / "pipeline.py")], use_cache=False)
    # the same bytes under another file name: other node ids
    (a / "pipeline2.py").write_text(files["pipeline.py"])
    (a / "pipeline.py").unlink()
    assert outcome(a, True, target="pipeline2.py") == outcome(a, False, target="pipeline2.py")


def test_a_module_that_appears_beside_an_import_is_seen(tmp_path: Path) -> None:
    (tmp_path / ".barque").mkdir()
    (tmp_path / "pipeline.py").write_text(
        "from barque import asset\nimport helpers\n\n@asset()\ndef a() -> int:\n    return helpers.f()\n"
    )
    first = outcome(tmp_path, True)
    assert first == outcome(tmp_path, False)
    (tmp_path / "helpers.py").write_text("def f():\n    return 1\n")
    second = outcome(tmp_path, True)
    assert second == outcome(tmp_path, False)
    assert second[1].nodes["pipeline.py:a"].helpers != first[1].nodes["pipeline.py:a"].helpers


def test_a_directory_walk_sees_a_new_pipeline_file(tmp_path: Path) -> None:
    (tmp_path / ".barque").mkdir()
    (tmp_path / "one.py").write_text("from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    assert list(parse_project([str(tmp_path) + "/"]).nodes) == ["one.py:a"]
    (tmp_path / "two.py").write_text("from barque import asset\n\n@asset()\ndef b() -> int:\n    return 2\n")
    assert list(parse_project([str(tmp_path) + "/"]).nodes) == ["one.py:a", "two.py:b"]


def test_an_error_is_never_cached(tmp_path: Path, parses: Parses) -> None:
    (tmp_path / ".barque").mkdir()
    (tmp_path / "pipeline.py").write_text("from barque import asset\n\n@asset(inputs={'x': missing})\ndef a(x) -> int:\n    return 1\n")
    for _ in range(2):
        with pytest.raises(PipelineDefinitionError):
            parse_project([str(tmp_path / "pipeline.py")])
    assert parses.count == 2 and entries(tmp_path) == []


def test_an_entry_sealed_without_the_store_key_is_not_trusted_with_it(tmp_path: Path, parses: Parses, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, render(initial(random.Random(6))))
    monkeypatch.delenv("BARQUE_STORE_KEY", raising=False)
    outcome(tmp_path, True)
    monkeypatch.setenv("BARQUE_STORE_KEY", "k" * 32)
    keyed = outcome(tmp_path, True)
    assert parses.count == 2  # the digest-sealed entry was a miss under the key
    assert outcome(tmp_path, True) == keyed == outcome(tmp_path, False)
    assert parses.count == 3  # the HMAC-sealed one was a hit (3: the fresh parse)
    monkeypatch.setenv("BARQUE_STORE_KEY", "other" * 8)
    outcome(tmp_path, True)
    assert parses.count == 4


def test_a_folder_that_cannot_be_written_means_no_cache_not_an_error(tmp_path: Path, parses: Parses) -> None:
    write(tmp_path, render(initial(random.Random(7))))
    (tmp_path / ".barque").rmdir()
    (tmp_path / ".barque").write_text("a file where the folder would go")
    assert outcome(tmp_path, True) == outcome(tmp_path, False)
    assert outcome(tmp_path, True)[0] == "graph"
    assert parses.count == 3


def test_a_project_without_a_barque_folder_gets_none(tmp_path: Path, parses: Parses) -> None:
    write(tmp_path, render(initial(random.Random(9))))
    (tmp_path / ".barque").rmdir()
    assert outcome(tmp_path, True) == outcome(tmp_path, False)
    assert not (tmp_path / ".barque").exists()


def test_a_cached_parse_does_not_import_the_parser(tmp_path: Path) -> None:
    write(tmp_path, render(initial(random.Random(8))))
    parse_project([str(tmp_path / "pipeline.py")])
    code = (
        "import sys\nfrom barque.parsing import parse_project\n"
        f"parse_project([{str(tmp_path / 'pipeline.py')!r}])\n"
        "print(sorted(m for m in sys.modules if m.startswith('barque.parsing.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['barque.parsing.cache', 'barque.parsing.codec', 'barque.parsing.entry', 'barque.parsing.files']"


def test_a_graph_cached_without_warnings_is_never_served_to_a_request_for_them(tmp_path: Path, parses: Parses) -> None:
    (tmp_path / ".barque").mkdir()
    target = tmp_path / "pipeline.py"
    target.write_text(
        "import os\nfrom barque import asset\n\n@asset()\ndef raw() -> int:\n    return os.environ['HOME'] and 1\n\n"
        "@asset(inputs={'raw': raw})\ndef report(raw: int) -> int:\n    return 42\n"
    )
    fresh = {w: parse_project([target], warnings=w, use_cache=False) for w in (False, True)}
    assert fresh[True].warnings and not fresh[False].warnings
    for asked in (False, True, False, True):
        assert parse_project([target], warnings=asked) == fresh[asked]
    assert parses.count == 2 + 2  # the two fresh ones, then one miss per request; the rest hits
    assert len(entries(tmp_path)) == 2


def test_an_edit_of_any_parser_module_changes_the_parser_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the parser reads statically (folded keys and groups) is part of its output, so the
    # entries are keyed by the parser's own source: no version constant to remember to bump.
    copy = tmp_path / "parsing"
    shutil.copytree(cache._HERE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_HERE", str(copy))
    digests = []
    for name in ("", "foldkeys.py", "staticnames.py", "literals.py", "declare.py"):
        if name:
            with open(copy / name, "a") as f:
                f.write("\n# edited\n")
        monkeypatch.setattr(cache, "_code_digest", None)
        digests.append(cache.parser_digest())
    assert len(set(digests)) == len(digests)


def test_an_entry_another_parser_wrote_is_a_miss(tmp_path: Path, parses: Parses, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, render(initial(random.Random(9))))
    fresh = outcome(tmp_path, True)
    monkeypatch.setattr(cache, "_code_digest", "0" * 64)  # as if the parser's source had changed
    assert outcome(tmp_path, True) == fresh
    assert parses.count == 2
