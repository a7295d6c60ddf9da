"""The README's examples run as written: every code block of the sections below is marked with
what to do with it, and each section is played in a fresh folder, block by block.

A marker is an HTML comment on the line before a block (invisible on GitHub):
``<!-- test: file NAME -->`` writes the block to NAME; ``<!-- test: run -->`` runs the (bash)
block as one script, each command expected to exit 0 unless its comment says ``exit N``, and to
print the JSON value its comment gives after ``# ->``;
``<!-- test: python -->`` runs the block with this Python; ``<!-- test: pytest -->`` runs it as
a test module; ``<!-- test: sample -->`` is an output sample with run ids of its own, shown,
not run. A block without a marker in these sections fails the test, so a new example is run too.

Real: the ``barque`` CLI of this checkout (``.venv/bin`` first on PATH) and bash, in a temporary folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTIONS = (
    "Async and streaming steps, micro-batches, overrides for tests",
    "Conditions and filters: steps that choose not to produce",
    "Run hooks, failure policy and resuming a failed run",
    "Where a value came from, and a run as a picture",
)
MARKER = re.compile(r"^<!-- test: (file|run|python|pytest|sample)(?: (\S+))? -->$")
FENCE = re.compile(r"^```(\w*)$")
EXIT = re.compile(r"#.*\bexit (\d+)")
PRINTS = re.compile(r"#\s*-> (.+)$")


def section(text: str, title: str) -> list[str]:
    """The lines of the ``###`` section ``title``, up to the next heading."""
    lines = text.splitlines()
    start = lines.index(f"### {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#") and not lines[i].startswith("#!")
                and lines[i].split(" ", 1)[0] in ("#", "##", "###")), len(lines))
    return lines[start:end]


def blocks(lines: list[str]) -> list[tuple[str, str | None, str, str]]:
    """(action, argument, language, body) of each fenced block, from the marker before it."""
    out: list[tuple[str, str | None, str, str]] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None or not fence.group(1):
            i += 1
            continue
        marker = MARKER.match(lines[i - 1]) if i > 0 else None
        assert marker is not None, f"the {fence.group(1)} block at README line ~{i} has no <!-- test: ... --> marker"
        end = lines.index("```", i + 1)
        out.append((marker.group(1), marker.group(2), fence.group(1), "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return out


def script(body: str) -> str:
    """A bash script running ``body``'s commands in turn, each checked for its exit code."""
    out = []
    for line in body.splitlines():
        command = line.split("  #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not command:
            continue
        want = int(m.group(1)) if (m := EXIT.search(line)) else 0
        failed = f"then echo 'README: {_quoted(command)} exited '\"$rc\"', not {want}' >&2; exit 1; fi"
        if (shown := PRINTS.search(line)) is None:
            out.append(f"{command}\nrc=$?; if [ $rc -ne {want} ]; {failed}")
            continue
        # ``# -> VALUE``: the command prints that JSON value (however it is indented).
        out.append(f"out=$({command})\nrc=$?; if [ $rc -ne {want} ]; {failed}\n"
                   f"printf '%s' \"$out\" | python3 -c {_shell(SAME_JSON)} '{_quoted(shown.group(1).strip())}' || exit 1")
    return "\n".join(out) + "\n"


SAME_JSON = "import json, sys; got, want = sys.stdin.read(), sys.argv[1]; ok = json.loads(got) == json.loads(want); " \
            "ok or sys.exit(f'README: printed {got!r}, not {want}')"


def _shell(text: str) -> str:
    return "'" + _quoted(text) + "'"


def _quoted(text: str) -> str:
    return text.replace("'", "'\\''")


def play(title: str, folder: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("BARQUE_STORE", None)
    for action, arg, language, body in blocks(section(README.read_text(encoding="utf-8"), title)):
        if action == "file":
            assert arg, "a file marker names the file"
            (folder / arg).write_text(body)
            continue
        if action == "sample":
            assert language in ("console", "text"), "a sample is output: a console or text block"
            continue
        if action == "run":
            cmd = ["bash", "-c", script(body)]
        elif action == "python":
            cmd = [sys.executable, "-c", body]
        else:
            (folder / "test_readme_example.py").write_text(body)
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_example.py"]
        done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=240, check=False)
        assert done.returncode == 0, f"{title}: the {action} block failed\n{body}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("title", SECTIONS)
def test_the_readme_examples_of_the_section_run_as_written(title: str, tmp_path: Path) -> None:
    play(title, tmp_path)


def test_every_block_of_those_sections_is_marked_and_something_is_run() -> None:
    text = README.read_text(encoding="utf-8")
    for title in SECTIONS:
        found = blocks(section(text, title))
        assert any(action in ("run", "python", "pytest") for action, *_ in found), f"{title}: no example is run"


def test_the_seed_map_names_every_seed_and_points_at_sections_that_exist() -> None:
    text = README.read_text(encoding="utf-8")
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("## ") or line.startswith("### ")]
    rows = [line for line in section_lines(text, "## From the seed systems to barque") if line.startswith("| ") and "---" not in line]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[1:]]
    assert {c[0] for c in cells} == {"barca", "dagabaaz", "flowrun", "orcapod", "datagraph"}
    for seed, capability, feature, where in cells:
        assert feature, f"{seed}: {capability} names no barque feature"
        assert feature.startswith("not covered") or any(
            h.startswith(part.strip()) for part in where.split(";") for h in headings
        ), f"{seed}: {capability} points at {where!r}, which is no README heading"


def section_lines(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading) + 1
    return lines[start : next(i for i in range(start, len(lines)) if lines[i].startswith("## "))]
