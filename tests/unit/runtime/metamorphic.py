"""Small three-file projects and the edits the metamorphic cache test applies to them.

A project is a dict of choices (constants, which body a helper or method has, how a module
is imported, which upstream a decorator wires, where comments and blank lines go) that
``render`` turns into files: ``util.py`` (constants, a module-level ``if``, an augmented
assignment, a ``global`` writer and the call to it, a helper, a class), ``mid.py`` (a
helper, and an asset with the same body as one in ``pipeline.py`` reading its own
constant) and ``pipeline.py`` (six assets ending in ``report``, whose value holds every
other one). ``EDITS`` lists every kind of edit; ``noise`` edits (comments, whitespace)
change no value. ``edit_and_compare`` runs one project through a series of edits and returns
what went wrong. Shared by ``test_cache_metamorphic.py`` and ``bench/cache_soak.py``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

import barque

Project = dict[str, Any]

SCALE_BODIES = ("x * RATE + OFFSET", "x * RATE - MODE", "(x + OFFSET) * RATE", "x + RATE * LIMIT")
PREDICT_BODIES = ("x * self.factor + MODE", "self.helper(x) + 1", "self.helper(x * self.factor)", "x - OFFSET")
# The last one reaches util through a computed getattr: the whole of util.py counts.
COMBINE_BODIES = ("{scale}(a) + b * BONUS", "a - b + BONUS", "{scale}(a + b)", 'getattr(_u, "sc" + "ale")(a) - b')
# How pipeline.py reaches util: (import line, prefix for util's names)
UTIL_IMPORTS = (
    ("import util", "util."),
    ("import util as u", "u."),
    ("from util import scale, Model, LIMIT", ""),
)
MID_IMPORTS = (("import util", "util."), ("from util import scale", ""), ("from util import *", ""))
CONSTANTS = ("rate", "offset", "factor", "bonus", "limit", "hk", "mode_a", "mode_b", "base", "twin_rate", "p_rate", "aug")


def initial(rnd: random.Random) -> Project:
    """A random starting project."""
    project: Project = {name: rnd.randint(0, 9) for name in CONSTANTS}
    project.update(
        scale=rnd.randrange(len(SCALE_BODIES)),
        predict=rnd.randrange(len(PREDICT_BODIES)),
        combine=rnd.randrange(len(COMBINE_BODIES)),
        util_import=rnd.randrange(len(UTIL_IMPORTS)),
        mid_import=rnd.randrange(len(MID_IMPORTS)),
        model_src=rnd.choice(("base", "scaled")),
        flag=rnd.random() < 0.5,
        setup=rnd.random() < 0.5,
        comments=rnd.randrange(1000),
        spacing=rnd.randrange(1000),
    )
    return project


def _constant(rnd: random.Random, p: Project) -> Project:
    name = rnd.choice(CONSTANTS)
    return {**p, name: (p[name] + rnd.randint(1, 5)) % 10}


def _choice(key: str, options: int) -> Callable[[random.Random, Project], Project]:
    def edit(rnd: random.Random, p: Project) -> Project:
        return {**p, key: (p[key] + rnd.randint(1, options - 1)) % options}

    return edit


def _flip(key: str) -> Callable[[random.Random, Project], Project]:
    return lambda rnd, p: {**p, key: not p[key]}


def _decorator(rnd: random.Random, p: Project) -> Project:
    return {**p, "model_src": "scaled" if p["model_src"] == "base" else "base"}


def _noise(key: str) -> Callable[[random.Random, Project], Project]:
    return lambda rnd, p: {**p, key: rnd.randrange(1000)}


# kind -> (edit, changes no value)
EDITS: dict[str, tuple[Callable[[random.Random, Project], Project], bool]] = {
    "constant": (_constant, False),
    "helper": (_choice("scale", len(SCALE_BODIES)), False),
    "other-file helper": (_choice("combine", len(COMBINE_BODIES)), False),
    "method": (_choice("predict", len(PREDICT_BODIES)), False),
    "import": (_choice("util_import", len(UTIL_IMPORTS)), False),
    "other-file import": (_choice("mid_import", len(MID_IMPORTS)), False),
    "module-level if": (_flip("flag"), False),
    "module-level call": (_flip("setup"), False),
    "decorator": (_decorator, False),
    "comment": (_noise("comments"), True),
    "whitespace": (_noise("spacing"), True),
}


def render(p: Project) -> dict[str, str]:
    """The project's files, by name."""
    pre_import, pre = UTIL_IMPORTS[p["util_import"]]
    mid_import, mid_pre = MID_IMPORTS[p["mid_import"]]
    util = f"""
RATE = {p["rate"]}
OFFSET: int = {p["offset"]}
OFFSET += {p["aug"]}
if {p["flag"]}:
    MODE = {p["mode_a"]}
else:
    MODE = {p["mode_b"]}
LIMIT = 0


def _setup():
    global LIMIT
    LIMIT = {p["limit"]}


{"_setup()" if p["setup"] else "pass"}


def scale(x):
    return {SCALE_BODIES[p["scale"]]}


class Model:
    factor = {p["factor"]}

    def predict(self, x):
        return {PREDICT_BODIES[p["predict"]]}

    def helper(self, x):
        return x - {p["hk"]}
"""
    mid = f"""
from barque import asset
import util as _u
{mid_import}

BONUS = {p["bonus"]}
RATE = {p["twin_rate"]}


def combine(a, b):
    return {COMBINE_BODIES[p["combine"]].format(scale=mid_pre + "scale")}


@asset()
def priced() -> int:
    return 10 * RATE
"""
    pipeline = f"""
from barque import asset
import mid
{pre_import}

RATE = {p["p_rate"]}


@asset()
def base() -> int:
    return {p["base"]}


@asset()
def priced() -> int:
    return 10 * RATE


@asset(inputs={{"x": base}})
def scaled(x: int) -> int:
    return {pre}scale(x) + {pre}LIMIT


@asset(inputs={{"x": {p["model_src"]}}})
def modelled(x: int) -> int:
    return {pre}Model().predict(x)


@asset(inputs={{"a": scaled, "b": modelled}})
def combined(a: int, b: int) -> int:
    return mid.combine(a, b)


@asset(inputs={{"a": base, "b": scaled, "c": modelled, "d": combined, "e": priced, "f": mid.priced}})
def report(a: int, b: int, c: int, d: int, e: int, f: int) -> list:
    return [a, b, c, d, e, f]
"""
    files = {"util.py": util, "mid.py": mid, "pipeline.py": pipeline}
    return {name: _decorate(text, p["comments"], p["spacing"], name) for name, text in files.items()}


def _decorate(text: str, comments: int, spacing: int, name: str) -> str:
    """Comments and whitespace that change no value: trailing and whole-line comments, extra
    blank lines, spaces around ``=`` and after commas."""
    crnd, srnd = random.Random(f"{comments}:{name}"), random.Random(f"{spacing}:{name}")
    out: list[str] = []
    for line in text.strip("\n").splitlines():
        if srnd.random() < 0.3:
            line = line.replace(" = ", "  =   ").replace(", ", " ,  ")
        if line.strip() and crnd.random() < 0.25:
            line += f"  # note {crnd.randrange(100)}"
        if not line.startswith((" ", "@")) and crnd.random() < 0.15:
            out.append(f"# about the next line: {crnd.randrange(100)}")
        if not line.strip() and srnd.random() < 0.3:
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n" * (1 + srnd.randrange(2))


def write_project(folder: Path, project: Project) -> None:
    for name, text in render(project).items():
        (folder / name).write_text(text)


def run(folder: Path, store: Path, no_cache: bool = False) -> dict[str, Any]:
    """``barque run pipeline.py`` in this process (its workers are forked), which must succeed."""
    summary = barque.run(str(folder / "pipeline.py"), store=str(store), no_cache=no_cache, workers=1)
    assert summary["status"] == "succeeded", summary
    return summary


def edit_and_compare(folder: Path, rnd: random.Random, kinds: list[str]) -> list[str]:
    """Run the project once, then per edit kind: edit, run on the kept store, run with
    ``no_cache`` on a fresh store. Returns one line per stale value, and per comment or
    whitespace edit that re-ran a step (empty: all good)."""
    project = initial(rnd)
    write_project(folder, project)
    run(folder, folder / "store")
    problems: list[str] = []
    for i, kind in enumerate(kinds):
        edit, noise_only = EDITS[kind]
        project = edit(rnd, project)
        write_project(folder, project)
        cached = run(folder, folder / "store")
        expected = run(folder, folder / f"fresh{i}", no_cache=True)
        if cached["final_output"] != expected["final_output"]:
            problems.append(f"edit {i} ({kind}): cached {cached['final_output']} != fresh {expected['final_output']}")
        if noise_only and cached["steps_executed"]:
            problems.append(f"edit {i} ({kind}): re-ran {cached['steps_executed']} steps")
    return problems
