"""Turning declarations into a checked graph: resolve every reference to a node, then check
what can be checked before anything runs (parameters, partitions, kinds, cycles).

Each check raises ``PipelineDefinitionError`` at the place the user has to edit.
"""

from __future__ import annotations

import ast
import posixpath
from typing import NamedTuple

from barque.errors import PipelineDefinitionError
from barque.model import InputSpec, PartitionSpec
from barque.parsing.declare import Decl, Ref
from barque.parsing.literals import suggestion
from barque.parsing.project import Func, Project
from barque.parsing.source import Local, SourceModule


class Linked(NamedTuple):
    """A declaration with its references resolved to node ids."""

    decl: Decl
    inputs: tuple[InputSpec, ...]
    partitions: tuple[PartitionSpec, ...]
    params: tuple[str, ...]  # every parameter name, in order (``*args`` and ``**kw`` included)
    keywords: tuple[str, ...]  # the names a keyword argument can fill
    required: list[ast.arg]  # the parameters without a default


def asset_ref_file(project: Project, mod: SourceModule, path: str) -> str | None:
    """The project file an ``asset_ref`` path names: relative to the root, else to the
    referencing file's directory."""
    for candidate in (path, posixpath.join(posixpath.dirname(mod.rel), path)):
        rel = posixpath.normpath(candidate)
        if not rel.startswith("../") and rel != ".." and project.finder.is_file(rel):
            return rel
    return None


class Linker:
    def __init__(self, project: Project, decls: list[Decl]) -> None:
        self.project = project
        self.decls = decls
        self.by_id: dict[str, Decl] = {}
        self.by_func: dict[tuple[str, str], Decl] = {}
        for decl in decls:
            other = self.by_id.get(decl.id)
            if other is not None:
                raise PipelineDefinitionError(
                    f"two nodes have the id {decl.id!r}: {other.module.where(other.fn)} and {decl.module.where(decl.fn)}",
                    where=decl.module.where(decl.fn),
                    hint="Give one of them another name= (or rename the function); node ids must be unique.",
                )
            self.by_id[decl.id] = decl
            self.by_func[(decl.module.rel, decl.fn.name)] = decl

    def link(self) -> list[Linked]:
        linked = [self._link_one(decl) for decl in self.decls]
        for item in linked:
            check_parameters(item, self.by_id)
            self._check_edges(item)
        find_cycle(linked, self.by_id)
        # After the cycle check: in a cycle within one file some input is always read before
        # it is defined, and the cycle is the more useful thing to say.
        for decl in self.decls:
            refs = [i.ref for i in decl.inputs] + [p.source for p in decl.partitions if p.source]
            for ref in refs:
                if ref.file is None:
                    check_bound_before(decl, ref.expr)
        return linked

    def _link_one(self, decl: Decl) -> Linked:
        inputs = []
        for written in decl.inputs:
            upstream = self.resolve(decl, written.ref)
            if upstream.kind == "task":
                _check_kind(decl, upstream, written.ref.expr)
            inputs.append(InputSpec(written.param, upstream.id, written.collect))
        parts = []
        for p in decl.partitions:
            source = self.resolve(decl, p.source).id if p.source is not None else None
            parts.append(PartitionSpec(p.dimension, p.kind, p.values, p.expr, source))  # type: ignore[arg-type]
        return Linked(decl, tuple(inputs), tuple(parts), *parameters(decl.fn))

    def resolve(self, decl: Decl, ref: Ref) -> Decl:
        """The node ``ref`` names, or an error saying what it is instead."""
        mod = decl.module
        if isinstance(ref.expr, ast.Name):  # the common case: a function of this file
            binding = mod.bindings.get(ref.expr.id)
            if isinstance(binding, Local):
                local = self.by_func.get((mod.rel, binding.name))
                if local is not None:
                    return local
        if ref.file is not None and ref.function is not None:
            rel = asset_ref_file(self.project, mod, ref.file)
            if rel is None:
                raise self._unknown(decl, ref, f"asset_ref names {ref.file!r}, which is not a file of the project")
            target = Func(rel, ref.function)
        else:
            target = self.project.resolve(mod, ref.expr)  # type: ignore[assignment]
        found = self.by_func.get((target.rel, target.name)) if isinstance(target, Func) else None
        if found is not None:
            return found
        text = mod.segment(ref.expr)
        if isinstance(target, Func):
            what = "a function with no @asset, @task or @sensor" if self.project.function(target) else "not defined there"
            raise self._unknown(decl, ref, f"`{text}` ({target.ref}) is {what}")
        if target is None and isinstance(ref.expr, ast.Name) and ref.expr.id not in mod.bindings:
            raise self._unknown(decl, ref, f"`{text}` is not defined or imported in {mod.rel}")
        raise self._unknown(decl, ref, f"`{text}` is not a node")

    def _unknown(self, decl: Decl, ref: Ref, why: str) -> PipelineDefinitionError:
        ids = sorted(self.by_id)
        shown = ", ".join(ids[:12]) + (f" and {len(ids) - 12} more" if len(ids) > 12 else "")
        return PipelineDefinitionError(
            f"unknown input for {decl.label}: {why}",
            where=decl.module.where(ref.expr),
            hint=(
                "Name a node defined in this file or imported from a project module, or write "
                f'asset_ref("file.py:function"). The nodes are: {shown or "none"}.'
            ),
        )

    def _check_edges(self, item: Linked) -> None:
        decl = item.decl
        if not item.partitions:
            return
        partitioned_from = [p for p in item.partitions if p.kind == "from"]
        if partitioned_from and len(item.partitions) > 1:
            raise PipelineDefinitionError(
                f"{decl.label} mixes partitions_from() with other dimensions",
                where=decl.module.where(_partition_key(decl, partitioned_from[0].dimension)),
                hint="Use partitions_from(...) as the only dimension, or declare every dimension with partitions([...]).",
            )
        for spec in partitioned_from:
            self._check_partitions_from(decl, spec)

    def _check_partitions_from(self, decl: Decl, spec: PartitionSpec) -> None:
        upstream = self.by_id[spec.source or ""]
        written = next(p for p in decl.partitions if p.dimension == spec.dimension)
        _check_kind(decl, upstream, written.source.expr if written.source else written.node)
        dims = [p.dimension for p in upstream.partitions]
        if len(dims) > 1:
            raise PipelineDefinitionError(
                f"{decl.label} takes partitions_from({upstream.fn.name}), which has {len(dims)} dimensions",
                where=decl.module.where(written.node),
                hint="partitions_from() needs an upstream with a single dimension.",
            )
        if dims and dims[0] != spec.dimension:
            raise PipelineDefinitionError(
                f"{decl.label} declares partitions_from({upstream.fn.name}) under {spec.dimension!r}, "
                f"but {upstream.id} is partitioned by {dims[0]!r}",
                where=decl.module.where(written.node),
                hint=f'Use the upstream\'s dimension name: partitions={{"{dims[0]}": partitions_from(...)}}.',
            )


def check_bound_before(decl: Decl, expr: ast.expr) -> None:
    """Refuse an input (``raw``, ``mod.raw``) whose name is bound only after the decorator
    reading it: Python evaluates a decorator's arguments before the module has run further,
    so importing the module would fail with a NameError."""
    head = expr
    while isinstance(head, ast.Attribute):
        head = head.value
    if not isinstance(head, ast.Name):
        return
    mod, fn = decl.module, decl.fn
    bound = mod.first_bound.get(head.id)
    start = fn.decorator_list[0].lineno if fn.decorator_list else fn.lineno
    if bound is not None and bound >= start:
        text = mod.segment(expr)
        raise PipelineDefinitionError(
            f"{decl.label} reads `{text}` in its decorator, but `{head.id}` is bound only further down, "
            f"at {mod.rel}:{bound}: importing the module would fail with a NameError",
            where=mod.where(expr),
            hint=f"Move the definition of `{head.id}` above {fn.name}() (a node reads nodes defined before it)"
            + (f', or name it as asset_ref("{mod.rel}:{head.id}").' if head is expr else "."),
        )


def _partition_key(decl: Decl, dimension: str) -> ast.expr:
    return next(p.node for p in decl.partitions if p.dimension == dimension)


def _check_kind(decl: Decl, upstream: Decl, where: ast.expr) -> None:
    if upstream.kind == "task" and decl.kind in ("asset", "sensor"):
        raise PipelineDefinitionError(
            f"{decl.label} reads task {upstream.id}; a task always runs and is never cached, "
            f"so an {decl.kind} cannot depend on it",
            where=decl.module.where(where),
            hint=f"Make {upstream.fn.name}() an @asset, or make {decl.fn.name}() a @task.",
        )


def parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[tuple[str, ...], tuple[str, ...], list[ast.arg]]:
    """Every parameter name in order, the names a keyword can fill, and the parameters
    without a default."""
    args = fn.args
    positional = args.posonlyargs + args.args if args.posonlyargs else args.args
    required = positional[: len(positional) - len(args.defaults)]
    if not (args.kwonlyargs or args.vararg or args.kwarg):
        names = tuple(a.arg for a in positional)
        return names, names, required
    required = required + [a for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    keywords = tuple(a.arg for a in positional + args.kwonlyargs)
    every = [a.arg for a in positional] + ([args.vararg.arg] if args.vararg else []) + [a.arg for a in args.kwonlyargs]
    return tuple(every) + ((args.kwarg.arg,) if args.kwarg else ()), keywords, required


def check_parameters(item: Linked, by_id: dict[str, Decl]) -> None:
    decl = item.decl
    fn, mod = decl.fn, decl.module
    if fn.args.posonlyargs:
        _refuse_positional_only(item, by_id)
    if fn.args.kwarg is None:
        for written in decl.inputs:
            if written.param not in item.keywords:
                _not_a_parameter(mod, decl, "inputs= key", written.param, written.key, item.keywords)
        for part in decl.partitions:
            if part.dimension not in item.keywords:
                _not_a_parameter(mod, decl, "partitions= dimension", part.dimension, part.node, item.keywords)
    if decl.kind == "task" or not item.required:
        return  # a task's parameters may be filled by whoever calls it (parallel branches)
    filled = {i.param for i in item.inputs}
    if item.partitions:
        filled.update(p.dimension for p in item.partitions)
        filled.update(by_id[p.source].fn.name for p in item.partitions if p.kind == "from" and p.source)
    for arg in item.required:
        if arg.arg not in filled:
            raise PipelineDefinitionError(
                f"the parameter `{arg.arg}` of {fn.name}() has no input and no default: "
                "barque passes it no argument, so calling it would fail",
                where=mod.where(arg),
                hint=f'Wire it with inputs={{"{arg.arg}": <upstream>}}, give it a default ({arg.arg}=...), or remove it.',
            )


def _refuse_positional_only(item: Linked, by_id: dict[str, Decl]) -> None:
    """barque passes every argument by keyword, which a positional-only parameter refuses."""
    decl = item.decl
    posonly = {a.arg for a in decl.fn.args.posonlyargs}
    wired: list[tuple[str, str, ast.AST]] = [("inputs= key", i.param, i.key) for i in decl.inputs]
    wired += [("partitions= dimension", p.dimension, p.node) for p in decl.partitions]
    for p in decl.partitions:
        if p.kind == "from" and p.source is not None:
            source = next(i.source for i in item.partitions if i.dimension == p.dimension)
            if source:
                wired.append(("partitions_from() source", by_id[source].fn.name, p.source.expr))
    for what, name, node in wired:
        if name in posonly:
            raise PipelineDefinitionError(
                f"the parameter `{name}` of {decl.fn.name}() is positional-only (it comes before `/`), "
                f"but barque passes the {what} `{name}` as a keyword argument, so the call would fail",
                where=decl.module.where(node),
                hint=f"Remove the `/` from {decl.fn.name}()'s signature, or move `{name}` after it.",
            )


def _not_a_parameter(mod: SourceModule, decl: Decl, what: str, name: str, node: ast.AST, params: tuple[str, ...]) -> None:
    takes = ", ".join(f"`{p}`" for p in params) or "no parameters"
    raise PipelineDefinitionError(
        f"the {what} `{name}` of {decl.label} is not a parameter: {decl.fn.name}() takes {takes}.{suggestion(name, params)}",
        where=mod.where(node),
        hint=f"Rename the key to a parameter, or add a parameter `{name}` to {decl.fn.name}(); "
        "barque passes each key to the function as a keyword argument.",
    )


def find_cycle(linked: list[Linked], by_id: dict[str, Decl]) -> None:
    """Raise when the graph has a cycle, naming its path in data-flow order."""
    upstream = {
        item.decl.id: [i.source for i in item.inputs] + [p.source for p in item.partitions if p.source]
        if item.partitions
        else [i.source for i in item.inputs]
        for item in linked
    }
    # Python defines a name before a decorator can read it, so nodes usually read only nodes
    # declared before them: then there is no cycle and no need to search for one.
    position = {node_id: index for index, node_id in enumerate(upstream)}
    if all(position[up] < position[node_id] for node_id, ups in upstream.items() for up in ups):
        return
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in upstream:
        if start in state:
            continue
        path, stack = [start], [iter(upstream[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                _raise_cycle(path[path.index(nxt) :] + [nxt], by_id)
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(upstream[nxt]))


def _raise_cycle(cycle: list[str], by_id: dict[str, Decl]) -> None:
    flow = list(reversed(cycle))  # the path follows "depends on"; print it as data flows
    first = by_id[flow[0]]
    raise PipelineDefinitionError(
        "the inputs form a cycle: " + " → ".join(flow),
        where=first.module.where(first.fn),
        hint="Remove one of these inputs: every node must be computable before the nodes that read it.",
    )
