"""The parser on generated sources: every input ends in a graph (that plans) or in a
``PipelineDefinitionError`` naming where, never another exception, never a hang, and never
an import of the user's module.

Sources are mutations of valid pipelines (random decorators, arguments, names, inputs,
partitions, literal values, rebindings, blocks, relative imports, file names), then random
token edits, plus some arbitrary text and bytes. Each generated module writes a marker file
when imported; the test checks that it never appears.

When the parser accepts a file, the file must also run: a forked child imports it the way a
worker does (``ModuleLoader``), and each node's function must be the one the parser read
(a top-level function of that name, defined at its line) and accept its inputs by keyword.

Real parts: the parser and the planner on files in a temporary directory, and a real import
of the accepted files in a forked child process. The budget is
``BARQUE_FUZZ_EXAMPLES`` cases (default 300); the same cases every run unless
``BARQUE_FUZZ_RANDOM=1``, for a soak such as ``BARQUE_FUZZ_EXAMPLES=20000 BARQUE_FUZZ_RANDOM=1``.
"""

from __future__ import annotations

import inspect
import os
import select
import signal
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barque.errors import PipelineDefinitionError, PlanError
from barque.model import Graph
from barque.parsing import parse_project
from barque.planner import make_plan
from barque_runtime.calling import raising_after
from barque_runtime.loader import ModuleLoader

EXAMPLES = int(os.environ.get("BARQUE_FUZZ_EXAMPLES", "300"))
CASE_SECONDS = 20.0  # one parse takes milliseconds; a shared, loaded machine gets slack
MARKER = "IMPORTED"

# -- pieces of pipelines ------------------------------------------------------------------

NAMES = ["raw", "clean", "report", "keys", "part", "x", "missing", "helpers", "json", "asset", "len", "_"]
IDENTS = st.sampled_from(NAMES) | st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True)
TEXTS = st.sampled_from(["", "a", "a,b", "x=y", "[z]", "r=a", "p.py:raw", " ", "\n", "%", "é", "#"]) | st.text(max_size=6)
NUMBERS = st.sampled_from(["0", "1", "-1", "3", "0.5", "1e999", "-1e999", "1e12", "True", "None", "10**400"]) | st.integers().map(str)
KEYS = st.lists(st.one_of(TEXTS.map(repr), st.integers(-3, 3).map(str), st.just("None")), max_size=4).map(lambda k: "[" + ", ".join(k) + "]")


REFS = st.one_of(
    IDENTS,
    IDENTS.map(lambda n: f"helpers.{n}"),
    IDENTS.map(lambda n: f"collect({n})"),
    IDENTS.map(lambda n: f'asset_ref("p.py:{n}")'),
    TEXTS.map(lambda t: f"asset_ref({t!r})"),
    NUMBERS,
)
PARTITION_VALUES = st.one_of(
    KEYS.map(lambda k: f"partitions({k})"),
    IDENTS.map(lambda n: f"partitions_from({n})"),
    IDENTS.map(lambda n: f"partitions({n})"),
    st.just("partitions(range(3))"),
    REFS,
)


def _dict(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{k!r}: {v}" for k, v in pairs) + "}"


ARG_VALUES: dict[str, Any] = {
    "name": TEXTS.map(repr),
    "inputs": st.lists(st.tuples(IDENTS, REFS), max_size=3).map(_dict),
    "partitions": st.lists(st.tuples(IDENTS, PARTITION_VALUES), max_size=2).map(_dict),
    "serializer": st.sampled_from(["'json'", "'pickle'", "'parquet'", "'yaml'", "None"]),
    "freshness": st.sampled_from(["Always", "Manual", "Schedule('0 5 * * *')", "Schedule('61 * * * *')", "Schedule()", "x"]),
    "timeout_seconds": NUMBERS,
    "retries": NUMBERS,
    "retry_backoff": NUMBERS,
    "description": TEXTS.map(repr),
    "tags": st.lists(TEXTS.map(repr), max_size=2).map(lambda t: "[" + ", ".join(t) + "]"),
    "env": st.lists(TEXTS.map(repr), max_size=2).map(lambda t: "[" + ", ".join(t) + "]"),
    "weight": NUMBERS,
    "bogus": NUMBERS,
}


@st.composite
def decorator(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["asset", "asset", "asset", "task", "sensor", "sink", "collect", "barque.asset", "b.task"]))
    if kind == "sink":
        return draw(st.sampled_from(["@sink('out/x.json')", "@sink", "@sink(path='x')", "@sink('s3://b/k', serializer='json')"]))
    form = draw(st.sampled_from(["call", "call", "call", "bare", "callcall", "wrapped"]))
    if form == "bare":
        return f"@{kind}"
    keys = draw(st.lists(st.sampled_from(sorted(ARG_VALUES)), max_size=4))
    args = ", ".join(f"{k}={draw(ARG_VALUES[k])}" for k in keys)
    if keys and draw(st.integers(0, 7)) == 0:
        args += ", " + args.split(", ")[0]  # a repeated keyword now and then
    call = f"{kind}({args})"
    return {"call": f"@{call}", "callcall": f"@{call}()", "wrapped": f"@wrap({kind})"}[form]


@st.composite
def signature(draw: st.DrawFn) -> str:
    params = draw(st.lists(IDENTS, max_size=4))
    parts = [p + draw(st.sampled_from(["", "", "=1", ": int", ": str = 'a'"])) for p in params]
    if parts and draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(["/", "*", "*args", "**kw"])))
    return ", ".join(parts)


@st.composite
def coherent_nodes(draw: st.DrawFn) -> list[str]:
    """Nodes that mostly fit together (inputs name earlier nodes and parameters; partitions
    match), so that generated files get past the first checks; one argument is random now and then."""
    out: list[str] = []
    earlier: list[tuple[str, str | None]] = []  # (function, partition dimension)
    for i in range(draw(st.integers(1, 5))):
        fn = draw(st.sampled_from([f"n{i}", NAMES[i]]))  # NAMES[i]: what the extras rebind
        args, params, dim = [], [], None
        wanted = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
        inputs = []
        for up, up_dim in wanted:
            wrap = "collect({})" if up_dim and draw(st.booleans()) else "{}"
            inputs.append((up, wrap.format(up)))
            params.append(up)
        if inputs:
            args.append("inputs=" + _dict(inputs))
        shape = draw(st.sampled_from(["none", "none", "static", "from"]))
        if shape == "static":
            dim = draw(st.sampled_from(["r", "day"]))
            args.append("partitions=" + _dict([(dim, f"partitions({draw(KEYS)})")]))
        elif shape == "from" and earlier:
            up, up_dim = draw(st.sampled_from(earlier))
            dim = up_dim or "k"
            args.append("partitions=" + _dict([(dim, f"partitions_from({up})")]))
        if dim:
            params.append(dim)
        for key in draw(st.lists(st.sampled_from(sorted(ARG_VALUES)), unique=True, max_size=2 if draw(st.booleans()) else 0)):
            args.append(f"{key}={draw(ARG_VALUES[key])}")
        kind = draw(st.sampled_from(["asset", "asset", "asset", "task", "sensor"]))
        sink = draw(st.sampled_from(["", "", "", "@sink('out/x.json')\n"]))
        out.append(f"{sink}@{kind}({', '.join(args)})\ndef {fn}({', '.join(params)}):\n    return {draw(st.sampled_from(['1', '[1, 2]', 'None']))}\n")
        earlier.append((fn, dim))
    return out


@st.composite
def node(draw: st.DrawFn) -> str:
    decorators = draw(st.lists(decorator(), min_size=1, max_size=3))
    prefix = draw(st.sampled_from(["def", "def", "async def"]))
    body = draw(st.sampled_from(["return 1", "return x", "trace('n')\n    return []", "pass", "return {'a': 1}",
                                 "from .helpers import f\n    return f()", "global raw\n    raw = 1"]))
    fn = f"{prefix} {draw(IDENTS)}({draw(signature())}):\n    {body}\n"
    return "\n".join(decorators) + "\n" + fn


EXTRAS = st.sampled_from([
    "raw = 5\n", "del raw\n", "report = None\n", "from helpers import raw\n", "import helpers\n",
    "from . import helpers\n", "from .. import x\n", "from .missing import y\n", "return 1\n",
    "if False:\n    @asset()\n    def hidden():\n        return 1\n",
    "class Holder:\n    @asset()\n    def method(self):\n        return 1\n",
    "def outer():\n    @task\n    def inner():\n        return 1\n    return inner\n",
    "try:\n    pass\nexcept OSError as report:\n    pass\n", "print(raw := 1)\n", "KEYS = ['a', 'b']\n",
    "x = " + "+".join(["1"] * 1200) + "\n", "def f(a, a):\n    pass\n", "from os import *\n", "__all__ = []\n",
])
HEADERS = st.sampled_from([
    "from barque import asset, task, sensor, sink, collect, partitions, partitions_from, asset_ref, Always, Manual, Schedule\n",
    "from barca import asset, task, sensor, collect, partitions, partitions_from\n",
    "import barque\nimport barque as b\nfrom barque import *\n",
    "from barque.decorators import asset, task\n",
    "from outputs import asset, task\n",
])
FILE_NAMES = st.sampled_from(["p.py"] * 12 + ["pkg/p.py"] * 4 + ["json.py", "my.pipe.py", "p.txt"])

# Tokens the edits insert: brackets, operators, keywords, odd characters.
TOKENS = st.sampled_from(["(", ")", "[", "]", "{", "}", ":", ",", "=", "@", "*", "**", "/", ".", "def ", "class ",
                          "\n", "    ", "\t", "'", '"', '"""', "#", "\\", "lambda", "yield", "await", "return",
                          "global raw", "nonlocal x", "\x00", "\r", "\ufeff", "𝔘", "1e999", "if x:\n", "async ",
                          "@asset()\n", "asset", "partitions_from(", "collect(", "->"])


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few random token edits: deletions, insertions, duplicated lines."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 4]))):
        edit = draw(st.sampled_from(["delete", "insert", "insert", "duplicate"]))
        at = draw(st.integers(0, len(text)))
        if edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)):]
        elif edit == "insert":
            text = text[:at] + draw(TOKENS | st.text(max_size=3)) + text[at:]
        else:
            lines = text.splitlines(keepends=True) or [""]
            i = draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[: i + 1] + lines[i:])
    return text


@st.composite
def pipeline_file(draw: st.DrawFn, marker: str) -> tuple[str, bytes]:
    """A file name and its bytes: a mutated pipeline, or arbitrary text or bytes."""
    name = draw(FILE_NAMES)
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return name, draw(st.binary(max_size=200))
    if choice == 1:
        return name, draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    side_effect = f"open({marker!r}, 'w').write('imported')\n"
    if draw(st.booleans()):
        body = draw(coherent_nodes()) + draw(st.lists(EXTRAS, max_size=1))
    else:
        body = draw(st.lists(st.one_of(node(), node(), EXTRAS), min_size=1, max_size=5))
    parts = [draw(HEADERS), side_effect] + draw(st.permutations(body) if draw(st.integers(0, 4)) == 0 else st.just(body))
    text = "\n".join(parts) + "\ndef trace(n):\n    return n\n\ndef wrap(d):\n    return d\n"
    return name, draw(edited(text)).encode("utf-8", "surrogatepass")


# -- the property ---------------------------------------------------------------------------


class CaseTimeout(Exception):
    pass


HELPERS = "from barque import asset\n\n@asset()\ndef raw():\n    return 1\n\ndef f():\n    return 2\n"


def run_problem(graph: Graph) -> str | None:
    """Why the accepted project would not run, found by importing it in a forked child as a
    worker does; ``None`` when every node's function is there and takes its inputs."""
    if not hasattr(os, "fork"):
        return None
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+ on fork with threads
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            problem = _problem_in_child(graph)
        except BaseException:
            problem = traceback.format_exc()
        os.write(write, (problem or "").encode("utf-8", "replace")[:60000])
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], CASE_SECONDS)
        report = os.read(read, 65536).decode() if ready else "importing the module took too long"
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return report or None


def _problem_in_child(graph: Graph) -> str | None:
    # Import as a worker does, with Python's default warnings: the test run's "warnings are
    # errors" would turn a DeprecationWarning (an invalid escape in a string) into a SyntaxError.
    warnings.resetwarnings()
    loader = ModuleLoader(graph.root)
    for node in graph.nodes.values():
        try:
            module = loader.module(node)
        except Exception as exc:  # the user's module-level code may fail at run time: not the parser's promise
            return _parser_promise_broken(graph, node, exc)
        fn = getattr(module, node.function, None)
        code = getattr(fn, "__code__", None)
        if getattr(fn, "__qualname__", None) != node.function or code is None or code.co_firstlineno > node.line:
            return f"{node.id}: the module binds {node.function} to {fn!r}, not the function at line {node.line}"
        wired = [i.param for i in node.inputs] + [p.dimension for p in node.partitions]
        try:
            inspect.signature(fn).bind_partial(**dict.fromkeys(wired))
        except TypeError as exc:
            return f"{node.id}: cannot be called with its inputs {wired}: {exc}"
    return None


def _parser_promise_broken(graph: Graph, node: Any, exc: Exception) -> str | None:
    """The import failed: a parser bug when the parser promised that this cannot happen (the
    file compiles, its relative imports resolve, a node's inputs are bound before its
    decorator); ``None`` for the user's own run-time errors."""
    import ast

    text = "".join(traceback.format_exception(exc))
    if isinstance(exc, SyntaxError) or (isinstance(exc, ImportError) and "relative import" in str(exc)):
        return text
    if isinstance(exc, ModuleNotFoundError) and exc.name and "." in exc.name and exc.name.split(".")[0] == node.module.split(".")[0]:
        return text
    if isinstance(exc, NameError):
        tree = ast.parse((Path(graph.root) / node.file).read_bytes())
        for item in graph.nodes.values():
            fn = next((f for f in tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.lineno == item.line), None)
            inputs = {i.source.rsplit(":", 1)[-1] for i in item.inputs} | {p.source.rsplit(":", 1)[-1] for p in item.partitions if p.source}
            if fn is not None and exc.name in inputs and any(
                isinstance(n, ast.Name) and n.id == exc.name for d in fn.decorator_list for n in ast.walk(d)
            ):
                return text
    return None


def check_one(folder: Path, name: str, data: bytes) -> None:
    """Parse and plan ``data`` as ``folder/name``; only a definition (or plan) error may escape,
    and what is accepted must import and call as the parser read it."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.startswith("pkg/"):
        (path.parent / "__init__.py").write_text("")
    (path.parent / "helpers.py").write_text(HELPERS)
    path.write_bytes(data)
    try:
        with raising_after(CASE_SECONDS, lambda: CaseTimeout(f"the parser took longer than {CASE_SECONDS} s")):
            graph = parse_project([path])
            try:
                plan = make_plan(graph, workers=2)
                listed = [sid for phase in plan.phases for stream in phase.streams for sid in stream.steps]
                assert len(listed) == len(set(listed)) == plan.total_steps, "two steps share an id"
            except PlanError as exc:
                # The parser guarantees unique step ids; a plan error may be about keys, never that.
                assert "two steps have the id" not in exc.message, exc
    except PipelineDefinitionError as exc:
        assert exc.where, f"a definition error without a location: {exc}"
        assert str(exc)
        return
    assert not (folder.parent / MARKER).exists(), "the parser imported the user's module"
    problem = run_problem(graph)
    assert problem is None, f"the parser accepted {name}, which does not run:\n{problem}\n--- source ---\n{data.decode('utf-8', 'replace')}"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("BARQUE_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_generated_source_parses_or_is_a_definition_error_and_is_never_imported(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        marker = str(folder / MARKER)
        name, source = data.draw(pipeline_file(marker), label="file")
        check_one(folder / "project", name, source)
