"""Reading a function's barque decorators into a declaration, references still unresolved.

A decorator counts only when it is positively barque's or barca's (``from barque import
asset``, ``import barca as b`` then ``@b.asset``, aliases): a foreign ``@task`` is not a node.
Arguments are read from the syntax tree; anything that is not written out statically is an
error that says so, never a silent default.
"""

from __future__ import annotations

import ast
from typing import Any, NamedTuple

from barque.batchflag import parse_batch_flags
from barque.errors import BarqueError, PipelineDefinitionError
from barque.model import BatchSpec, Freshness, SinkSpec
from barque.parsing import literals, placement
from barque.parsing.foldkeys import fold_keys
from barque.parsing.conditions import read_run_if
from barque.parsing.project import Project
from barque.parsing.source import Api, FunctionNode, SourceModule

OPTIONS = (
    "name",
    "inputs",
    "partitions",
    "serializer",
    "freshness",
    "timeout_seconds",
    "retries",
    "retry_backoff",
    "description",
    "tags",
    "env",
    "run_if",
)
# In barca's order ("Accepted arguments" in `barca docs assets`), so the error lists them alike.
ACCEPTED = {
    "asset": (*OPTIONS, "weight", "deterministic", "cutoff", "batch"),
    "task": (*OPTIONS, "weight", "batch", "on"),
    "sensor": (*(o for o in OPTIONS if o not in ("inputs", "run_if")), "weight"),
}
HOOK_ON = ("failure", "success", "always")  # @task(on=...): a run hook, run once the run's outcome is known
SCHEDULE_OPTIONS = ("max_failures", "timeout_seconds", "batch")
SINK_OPTIONS = ("serializer", "partition_by", "rows_per_file")
# Where each option that not every decorator takes belongs, for the error's hint.
_ONLY_ON = {"deterministic": "@asset", "cutoff": "@asset", "batch": "a partitioned @asset or @task"}


class Ref(NamedTuple):
    """A reference to a node: an expression (``raw``, ``mod.raw``) or an ``asset_ref`` file
    and function; ``expr`` is where it was written."""

    expr: ast.expr
    file: str | None = None
    function: str | None = None


class PartitionDecl(NamedTuple):
    dimension: str
    kind: str
    node: ast.expr
    values: tuple[str, ...] | None = None
    expr: str | None = None
    source: Ref | None = None


class InputDecl(NamedTuple):
    param: str
    ref: Ref
    collect: bool
    key: ast.expr


class Decl:
    """One node as written: kind, function and decorator arguments (filled in as they are read)."""

    def __init__(self, module: SourceModule, fn: FunctionNode, kind: str, decorator: ast.expr) -> None:
        self.module = module
        self.fn = fn
        self.kind = kind
        self.decorator = decorator
        self.name: str | None = None
        self.inputs: list[InputDecl] = []
        self.partitions: list[PartitionDecl] = []
        self.options: dict[str, Any] = {}
        self.sinks: list[SinkSpec] = []
        self.id = ""  # set once the arguments are read: name= or <file>:<function>
        self.barque_decorators: list[int] = []  # id() of its decorators that are barque's

    @property
    def label(self) -> str:
        return f"@{self.kind} {self.id}"


def read_declarations(project: Project, mod: SourceModule) -> list[Decl]:
    """Every node declared in ``mod``, in source order; an error for a barque decorator
    that no run would see (see ``placement``)."""
    decls = []
    for fn in mod.defs:
        decl = _read_function(project, mod, fn)
        if decl is not None:
            decls.append(decl)
    functions = {decl.fn.name for decl in decls}
    placement.check_inner(mod, functions, lambda dec: decorator_kind(project, mod, dec), project.finder)
    return decls


_NODE_KINDS = frozenset({*ACCEPTED, "sink"})


def decorator_kind(project: Project, mod: SourceModule, node: ast.expr) -> str | None:
    """The barque decorator (``asset``, ``task``, ``sensor``, ``sink``) that expression
    ``node`` uses anywhere, written the usual way or not (``@asset()()``); else ``None``."""
    kind, _ = api_call(project, mod, node)
    if kind in _NODE_KINDS:
        return kind
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Name, ast.Attribute)):
            target = project.resolve(mod, sub)
            if isinstance(target, Api) and target.name in _NODE_KINDS:
                return target.name
    return None


def api_call(project: Project, mod: SourceModule, node: ast.expr) -> tuple[str | None, ast.Call | None]:
    """``("asset", call)`` when ``node`` is barque's ``asset(...)``; the call is ``None`` for
    a bare ``@asset``. ``(None, None)`` when it is not barque's API."""
    call = node if isinstance(node, ast.Call) else None
    target = project.resolve(mod, call.func if call else node)
    if isinstance(target, Api) and target.name:
        return target.name, call
    return None, None


def _read_function(project: Project, mod: SourceModule, fn: FunctionNode) -> Decl | None:
    decl: Decl | None = None
    sinks: list[tuple[ast.expr, ast.Call | None]] = []
    for dec in fn.decorator_list:
        kind, call = api_call(project, mod, dec)
        if kind is None:
            _refuse_unread(project, mod, dec)
        elif kind == "sink":
            sinks.append((dec, call))
        elif kind in ACCEPTED:
            if decl is not None:
                raise PipelineDefinitionError(
                    f"{fn.name}() has both @{decl.kind} and @{kind}",
                    where=mod.where(dec),
                    hint="A function is one node: keep one of @asset, @task and @sensor.",
                )
            decl = Decl(module=mod, fn=fn, kind=kind, decorator=dec)
            if call is not None:
                _read_arguments(project, decl, call)
        else:
            raise PipelineDefinitionError(
                f"@{kind} on {fn.name}() is not a decorator",
                where=mod.where(dec),
                hint=f"barque's decorators are @asset, @task, @sensor and @sink; {kind}(...) goes inside their arguments.",
            )
    if decl is None:
        if sinks:
            raise PipelineDefinitionError(
                f"@sink on {fn.name}(), which is not a node",
                where=mod.where(sinks[0][0]),
                hint="Stack @sink with @asset (or @task) on the same function.",
            )
        return None
    placement.check_node_binding(mod, fn, decl.kind)
    decl.id = decl.name or f"{mod.rel}:{fn.name}"
    decl.barque_decorators = [id(decl.decorator)]
    if sinks:
        decl.sinks = [_read_sink(mod, dec, call) for dec, call in sinks]
        decl.barque_decorators += [id(dec) for dec, _ in sinks]
    return decl


def _refuse_unread(project: Project, mod: SourceModule, dec: ast.expr) -> None:
    """A decorator that uses barque's API in a form the parser does not read as a node
    (``@asset()()``, ``@wrap(asset)``) would silently make none: refuse it."""
    used = decorator_kind(project, mod, dec)
    if used is not None:
        raise PipelineDefinitionError(
            f"this decorator uses @{used} in a form barque does not read: `@{literals.shown(mod, dec)}`",
            where=mod.where(dec),
            hint=f"Write @{used} or @{used}(...) directly above the function (barque reads decorators without running them).",
        )


def _read_arguments(project: Project, decl: Decl, call: ast.Call) -> None:
    mod, accepted = decl.module, ACCEPTED[decl.kind]
    if call.args:
        raise PipelineDefinitionError(
            f"@{decl.kind} on {decl.fn.name}() takes keyword arguments only",
            where=mod.where(call.args[0]),
            hint=f"Name the argument, e.g. @{decl.kind}(name=...). Accepted: {', '.join(accepted)}.",
        )
    for kw in call.keywords:
        if kw.arg is None:
            raise PipelineDefinitionError(
                f"@{decl.kind}(**...) on {decl.fn.name}() cannot be read statically",
                where=mod.where(kw.value),
                hint=f"{literals.STATIC_HINT}: write each argument as a keyword.",
            )
        if kw.arg not in accepted:
            raise _unknown_keyword(mod, decl.kind, decl.fn.name, kw, accepted)
        _read_option(project, decl, kw.arg, kw.value)
    if "batch" in decl.options:
        _check_batch(decl, next(kw for kw in call.keywords if kw.arg == "batch"))
    if "on" in decl.options and (decl.inputs or decl.partitions):
        raise PipelineDefinitionError(
            f"run hook {decl.fn.name}() cannot have inputs= or partitions=",
            where=mod.where(call),
            hint="A hook runs once after the run and reads its report: take a parameter named run_report instead.",
        )


def _unknown_keyword(mod: SourceModule, kind: str, fn: str, kw: ast.keyword, accepted: tuple[str, ...]) -> PipelineDefinitionError:
    arg = kw.arg or ""
    if kind == "sensor" and arg == "inputs":
        return PipelineDefinitionError(
            f"sensor {fn}() cannot have inputs",
            where=mod.where(kw),
            hint="A sensor observes the outside world and takes no inputs: remove inputs=, or make it an @asset.",
        )
    close = literals.did_you_mean(arg, accepted)
    if arg in _ONLY_ON:
        hint = f"`{arg}` applies to {_ONLY_ON[arg]} only, as in barca: remove it here."
    elif close:
        hint = f"Rename `{arg}` to `{close[0]}`, or remove it."
    else:
        hint = f"Remove `{arg}`, or use one of the accepted arguments."
    return PipelineDefinitionError(
        f"`{arg}` is not an argument of @{kind}.{literals.suggestion(arg, accepted)} @{kind} accepts: {', '.join(accepted)}",
        where=mod.where(kw),
        hint=hint,
    )


def _read_option(project: Project, decl: Decl, arg: str, value: ast.expr) -> None:
    mod, what = decl.module, f"{arg}="
    if arg == "inputs":  # by far the most common
        decl.inputs = _read_inputs(project, mod, value)
    elif arg == "name":
        decl.name = decl.options[arg] = literals.node_name(mod, value)
    elif arg == "description":
        decl.options[arg] = literals.string(mod, value, what)
    elif arg == "serializer":
        decl.options[arg] = literals.serializer(mod, value, what)
    elif arg in ("timeout_seconds", "retry_backoff"):
        decl.options[arg] = literals.number(mod, value, what, optional=arg == "timeout_seconds")
    elif arg == "retries":
        decl.options[arg] = literals.attempts(mod, value, what)
    elif arg in ("tags", "env"):
        decl.options[arg] = literals.string_list(mod, value, what)
    elif arg == "freshness":
        decl.options[arg] = _read_freshness(project, mod, value)
    elif arg == "partitions":
        decl.partitions = _read_partitions(project, mod, value)
    elif arg == "run_if":
        decl.options[arg] = read_run_if(mod, value, decl.fn)
    elif arg == "weight":
        decl.options[arg] = literals.weight(mod, value)
    elif arg in ("cutoff", "deterministic"):
        decl.options[arg] = literals.boolean(mod, value, what)
    elif arg == "batch":
        batch = _read_batch(project, mod, value)
        if batch is not None:
            decl.options[arg] = batch
    elif arg == "on":
        decl.options[arg] = _read_hook_on(mod, value)


def node_options(decl: Decl) -> dict[str, Any]:
    """The ``Node`` fields of barca's scheduling and reading options, defaults filled in."""
    return {
        "weight": decl.options.get("weight", 1),
        "cutoff": decl.options.get("cutoff", False),
        "deterministic": decl.options.get("deterministic", True),
        "batch": decl.options.get("batch"),
        "readers": _readers(decl.fn),
    }


def _read_batch(project: Project, mod: SourceModule, node: ast.expr) -> BatchSpec | None:
    """``batch=N | "all" | None | batches([...], strict=) | batches_by(fn, max_size=)``."""
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None:
            return None
        if value == "all":
            return BatchSpec("all")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return BatchSpec("size", size=value)
    kind, call = api_call(project, mod, node)
    if kind == "batches" and call is not None:
        arg = one_argument(mod, call, "batches", ("strict",))
        strict = any(literals.boolean(mod, kw.value, "batches(strict=)") for kw in call.keywords)
        groups = literals.key_groups(mod, arg)
        if groups is None:
            return BatchSpec("groups_expr", expr=mod.segment(arg), strict=strict)
        return BatchSpec("groups", groups=groups, strict=strict)
    if kind == "batches_by" and call is not None:
        fn = one_argument(mod, call, "batches_by", ("max_size",))
        max_size = None
        for kw in call.keywords:
            max_size = literals.positive_int(mod, kw.value, "batches_by(max_size=)")
        return BatchSpec("by", expr=mod.segment(fn), max_size=max_size)
    raise PipelineDefinitionError(
        f"batch={literals.shown(mod, node)} is not a grouping barca knows",
        where=mod.where(node),
        hint='Write batch=20 (at most 20 keys per call), batch="all", batches([["a", "b"], ["c"]]) '
        "or batches_by(fn, max_size=20), imported from barque or barca; or leave batch= out.",
    )


def _check_batch(decl: Decl, kw: ast.keyword) -> None:
    """barca's rules: ``batch=`` only on a partitioned node whose partition parameters take lists."""
    mod = decl.module
    if not decl.partitions:
        raise PipelineDefinitionError(
            f"batch= on {decl.fn.name}(), which is not partitioned",
            where=mod.where(kw),
            hint="batch= groups the keys of a partitioned node into calls: add partitions=, or remove batch=.",
        )
    dims = {p.dimension for p in decl.partitions}
    for arg in [*decl.fn.args.posonlyargs, *decl.fn.args.args, *decl.fn.args.kwonlyargs]:
        if arg.arg in dims and _scalar_annotation(arg.annotation):
            raise PipelineDefinitionError(
                f"the partition parameter `{arg.arg}` of the batched {decl.fn.name}() is annotated as one key "
                f"({literals.shown(mod, arg.annotation)})",  # type: ignore[arg-type]
                where=mod.where(arg),
                hint=f"With batch= the function receives the list of its call's keys: annotate it `{arg.arg}: list[str]`.",
            )


def _scalar_annotation(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Name) and node.id in ("str", "int")


# Annotations that pick the reader of a Parquet or CSV input, as barca reads them
# ("Input: parameter annotations pick the reader", `barca docs types`); pandas is the default.
_READERS = {
    "pd.DataFrame": "pandas",
    "pandas.DataFrame": "pandas",
    "pl.DataFrame": "polars",
    "polars.DataFrame": "polars",
    "pl.LazyFrame": "polars_lazy",
    "polars.LazyFrame": "polars_lazy",
    "pyarrow.Table": "arrow",  # not `pa.Table`: barca 0.33 gives that one a pandas DataFrame
    "duckdb.DuckDBPyRelation": "duckdb",
}


def _readers(fn: FunctionNode) -> tuple[tuple[str, str], ...]:
    """``(param, reader)`` for each parameter annotated with a reader other than pandas."""
    out = []
    for arg in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
        node = arg.annotation
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
            text = node.value.strip()
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            text = f"{node.value.id}.{node.attr}"
        else:
            continue
        reader = _READERS.get(text)
        if reader is not None and reader != "pandas":
            out.append((arg.arg, reader))
    return tuple(out)


def _read_hook_on(mod: SourceModule, value: ast.expr) -> str:
    return literals.choice(mod, value, "on=", HOOK_ON, "a run hook's trigger",
                           "Write on= one of {choices}: the hook runs after a run that failed, succeeded, or either.")


def _read_freshness(project: Project, mod: SourceModule, node: ast.expr) -> Freshness:
    kind, call = api_call(project, mod, node)
    if kind in ("Always", "Manual") and call is None:
        return Freshness(kind.lower())  # type: ignore[arg-type]
    if kind == "Schedule" and call is not None:
        cron = literals.string(mod, one_argument(mod, call, "Schedule", SCHEDULE_OPTIONS), "Schedule(...)")
        problem = literals.cron_problem(cron)
        if problem:
            raise PipelineDefinitionError(
                f"invalid cron {cron!r} in Schedule(): {problem}",
                where=mod.where(call.args[0]),
                hint='Write five fields: minute hour day-of-month month day-of-week, e.g. Schedule("0 5 * * *").',
            )
        return _schedule_options(mod, call, cron)
    raise literals.not_static(mod, node, "freshness=", 'Always, Manual or Schedule("<cron>") imported from barque')


def _schedule_options(mod: SourceModule, call: ast.Call, cron: str) -> Freshness:
    """``Schedule(cron, max_failures=, timeout_seconds=, batch=)`` as written."""
    options: dict[str, Any] = {}
    for kw in call.keywords:
        what = f"Schedule({kw.arg}=)"
        if kw.arg == "max_failures":
            value = literals.literal(mod, kw.value, what, "an integer literal")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PipelineDefinitionError(
                    f"{what} must be a whole number of at least 1 (failed ticks in a row before ticks are skipped), "
                    f"not {literals.shown(mod, kw.value)}",
                    where=mod.where(kw.value),
                    hint="Write max_failures=5 (barca's default), or leave it out.",
                )
            options["max_failures"] = value
        elif kw.arg == "timeout_seconds":
            seconds = literals.number(mod, kw.value, "timeout_seconds=")
            if not seconds:
                raise PipelineDefinitionError(
                    f"{what} must be more than 0 seconds, not {literals.shown(mod, kw.value)}",
                    where=mod.where(kw.value),
                    hint="Write timeout_seconds=3600 for an hour per scheduled run, or leave it out.",
                )
            options["timeout_seconds"] = seconds
        elif kw.arg == "batch":
            options["batch"] = _schedule_batch(mod, kw.value)
    return Freshness("schedule", cron, **options)


_SCHEDULE_BATCH_FORMS = ('a literal as barca takes it: "all", "none", a whole number, {"node": "all" | "none" | N}, '
                         'or a list of --batch values such as ["scored=20"]')


def _schedule_batch(mod: SourceModule, node: ast.expr) -> tuple[str, ...]:
    """``Schedule(batch=)`` as the ``--batch`` values each tick's run takes, checked as ``--batch`` would be."""
    what = "Schedule(batch=)"
    value = literals.literal(mod, node, what, _SCHEDULE_BATCH_FORMS)
    if isinstance(value, dict):
        settings = {name: _setting(v) for name, v in value.items() if isinstance(name, str)}
        values = tuple(f"{name}={setting}" for name, setting in settings.items())
        complete = len(settings) == len(value) > 0 and all(settings.values())
    elif isinstance(value, (list, tuple)):
        values = tuple(v for v in value if isinstance(v, str))
        complete = len(values) == len(value) > 0
    else:
        values = (_setting(value),)
        complete = bool(values[0])
    if not complete:
        raise PipelineDefinitionError(f"{what} cannot be {literals.shown(mod, node)}", where=mod.where(node),
                                      hint=f"Write {_SCHEDULE_BATCH_FORMS}.")
    try:
        parse_batch_flags(values, what)
    except BarqueError as err:
        raise PipelineDefinitionError(err.message, where=mod.where(node), hint=f"Write {_SCHEDULE_BATCH_FORMS}.") from None
    return values


def _setting(value: Any) -> str:
    """One override setting as ``--batch`` writes it; ``""`` for a value of no form barca takes."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else ""


def one_argument(mod: SourceModule, call: ast.Call, what: str, keywords: tuple[str, ...] = ()) -> ast.expr:
    """The single positional argument of a helper call; other keywords must be in ``keywords``."""
    for kw in call.keywords:
        if kw.arg not in keywords:
            raise PipelineDefinitionError(
                f"{what}() got the keyword argument `{kw.arg}`",
                where=mod.where(kw),
                hint=f"Pass the value as the only positional argument: {what}(<value>).",
            )
    if len(call.args) != 1 or isinstance(call.args[0], ast.Starred):
        raise PipelineDefinitionError(
            f"{what}() takes exactly one positional argument, got {len(call.args)}",
            where=mod.where(call),
            hint=f"Write {what}(<value>).",
        )
    return call.args[0]


def _read_inputs(project: Project, mod: SourceModule, node: ast.expr) -> list[InputDecl]:
    if not isinstance(node, ast.Dict) or None in node.keys:
        raise literals.not_static(mod, node, "inputs=", 'a dict literal, e.g. {"param": upstream}')
    out: list[InputDecl] = []
    params: list[str] = []
    for key, value in zip(node.keys, node.values):
        param = literals.string(mod, key, "an inputs= key")  # type: ignore[arg-type]
        if param in params:
            _no_repeat(mod, key, param, params, "inputs= key")  # type: ignore[arg-type]
        params.append(param)
        if isinstance(value, (ast.Name, ast.Attribute)):  # most inputs: skip the helper lookups
            out.append(InputDecl(param, Ref(value), False, key))  # type: ignore[arg-type]
            continue
        kind, call = api_call(project, mod, value)
        if kind == "collect" and call is not None:
            out.append(InputDecl(param, read_ref(project, mod, one_argument(mod, call, "collect")), True, key))  # type: ignore[arg-type]
        else:
            out.append(InputDecl(param, read_ref(project, mod, value), False, key))  # type: ignore[arg-type]
    return out


def _no_repeat(mod: SourceModule, key: ast.expr, name: str, earlier: list[str], what: str) -> None:
    if name in earlier:
        raise PipelineDefinitionError(
            f"the {what} {name!r} is written twice", where=mod.where(key), hint="Keep one entry per key."
        )


def read_ref(project: Project, mod: SourceModule, node: ast.expr) -> Ref:
    """A reference to a node: a name or ``a.b`` chain, or ``asset_ref("file.py:function")``."""
    if isinstance(node, (ast.Name, ast.Attribute)):
        return Ref(node)
    kind, call = api_call(project, mod, node)
    if kind == "asset_ref" and call is not None:
        text = literals.string(mod, one_argument(mod, call, "asset_ref"), "asset_ref(...)")
        path, sep, function = text.rpartition(":")
        if not sep or not path or not function:
            raise PipelineDefinitionError(
                f"asset_ref({text!r}) does not name a file and a function",
                where=mod.where(call),
                hint='Write asset_ref("path/to/file.py:function"), the path relative to the project root.',
            )
        return Ref(node, file=path, function=function)
    raise literals.not_static(mod, node, "an input", "a node's name, module.name, collect(...) or asset_ref(...)")


def _read_partitions(project: Project, mod: SourceModule, node: ast.expr) -> list[PartitionDecl]:
    if not isinstance(node, ast.Dict) or None in node.keys:
        raise literals.not_static(mod, node, "partitions=", 'a dict literal, e.g. {"region": partitions([...])}')
    out: list[PartitionDecl] = []
    for key, value in zip(node.keys, node.values):
        dim = literals.string(mod, key, "a partitions= dimension")  # type: ignore[arg-type]
        _no_repeat(mod, key, dim, [p.dimension for p in out], "partitions= dimension")  # type: ignore[arg-type]
        kind, call = api_call(project, mod, value)
        if kind == "partitions" and call is not None:
            arg = one_argument(mod, call, "partitions")
            keys = fold_keys(mod, arg)
            if keys is not None:
                out.append(PartitionDecl(dim, "static", key, values=keys))  # type: ignore[arg-type]
            else:
                out.append(PartitionDecl(dim, "expr", key, expr=mod.segment(arg)))  # type: ignore[arg-type]
        elif kind == "partitions_from" and call is not None:
            ref = read_ref(project, mod, one_argument(mod, call, "partitions_from"))
            out.append(PartitionDecl(dim, "from", key, source=ref))  # type: ignore[arg-type]
        else:
            raise literals.not_static(mod, value, f"partitions[{dim!r}]", "partitions([...]) or partitions_from(upstream)")
    return out


def _read_sink(mod: SourceModule, dec: ast.expr, call: ast.Call | None) -> SinkSpec:
    if call is None:
        raise PipelineDefinitionError(
            "@sink needs a path", where=mod.where(dec), hint='Write @sink("out/result.json") above or below @asset.'
        )
    for kw in call.keywords:
        if kw.arg is None:
            raise literals.not_static(mod, kw.value, "@sink(**...)", 'a path and serializer="..." written out')
        if kw.arg == "path":
            raise PipelineDefinitionError(
                "@sink takes its path as the first positional argument",
                where=mod.where(kw),
                hint='Write @sink("out/result.json").',
            )
        if kw.arg not in SINK_OPTIONS:
            raise _unknown_keyword(mod, "sink", "", kw, SINK_OPTIONS)
    path = literals.string(mod, one_argument(mod, call, "sink", SINK_OPTIONS), "@sink path")
    options: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg != "serializer" and not path.endswith("/"):
            raise PipelineDefinitionError(
                f"@sink {kw.arg}= applies to a dataset sink, a path ending in `/`; {path!r} is a file sink",
                where=mod.where(kw),
                hint=f'Write the folder of the dataset, e.g. @sink("{path.rsplit(".", 1)[0]}/", {kw.arg}=...), or remove {kw.arg}=.',
            )
        if kw.arg == "serializer":
            options["serializer"] = literals.serializer(mod, kw.value, "@sink serializer=")
        elif kw.arg == "partition_by":
            options["partition_by"] = literals.string_list(mod, kw.value, "@sink partition_by=")
        else:
            options["rows_per_file"] = literals.positive_int(mod, kw.value, "@sink rows_per_file=")
    if path.endswith("/") and options.get("serializer") == "pickle":
        raise PipelineDefinitionError(
            f"the dataset sink {path!r} cannot be written as pickle",
            where=mod.where(dec),
            hint='A dataset sink writes Parquet (default), serializer="csv" or serializer="json".',
        )
    return SinkSpec(path=path, **options)
