"""One parsed source file and what its module-level names are bound to.

The file is read with ``ast`` only. Its module-level statements are scanned in order (into
``if``/``try``/``with``/loop blocks, never into functions or classes) to learn what each name
means: barque's or barca's API, a project module, a name imported from a project module, a
function defined here, or something else (an assignment, a class, an outside import), which
shadows any earlier meaning. A later binding wins, as it would when Python runs the module.
Where each name is bound first and last is kept too: a node's function must be the last
binding of its name, and an input must name something bound before the decorator runs.

The file must also compile: ``ast.parse`` accepts code that Python's compiler refuses
(``return`` outside a function, a repeated argument name or keyword), which would fail only
when a worker imports the module.
"""

from __future__ import annotations

import ast
import hashlib
import re
import warnings
from typing import Iterable, Iterator, NamedTuple, Union

from barque.errors import PipelineDefinitionError, location
from barque.parsing.files import ModuleFinder, ModuleRef, module_name, module_problem, package_depth

# Everything barque's and barca's authoring API exports that the parser understands.
API_NAMES = frozenset(
    {
        "asset",
        "task",
        "sensor",
        "sink",
        "Always",
        "Manual",
        "Schedule",
        "partitions",
        "partitions_from",
        "collect",
        "asset_ref",
        "batches",
        "batches_by",
    }
)
API_MODULES = frozenset({"barque", "barca", "barque.decorators"})


# Bindings are named tuples rather than dataclasses: a 10,000-node file makes 10,000 of them,
# and tuples are several times cheaper to create. They are told apart by class, never by ==.


class Api(NamedTuple):
    """An export of barque's or barca's API; ``name == ""`` is the module itself."""

    name: str


class Module(NamedTuple):
    """A project module bound to a name (``import pkg.mod as m``)."""

    ref: ModuleRef


class FromModule(NamedTuple):
    """``from <project module> import name``: resolved once every module is read."""

    ref: ModuleRef
    name: str


class Local(NamedTuple):
    """A function defined at module level in this file."""

    name: str


class Opaque(NamedTuple):
    """Anything else: an assignment, a class, an outside import. Never a node or a helper."""


Binding = Union[Api, Module, FromModule, Local, Opaque]
FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
OPAQUE = Opaque()


class SourceModule:
    """One parsed file, and what reading its top level finds (filled in by ``read_module``).

    A plain class, as the parser's other working state: a dataclass would import
    ``dataclasses`` (and ``inspect``) on every run (bench/FINDINGS.md, issue 11)."""

    def __init__(self, rel: str, module: str, data: bytes, tree: ast.Module) -> None:
        self.rel = rel
        self.module = module
        self.data = data
        self.tree = tree
        self.bindings: dict[str, Binding] = {}
        self.functions: dict[str, FunctionNode] = {}
        self.defs: list[FunctionNode] = []
        self.constants: dict[str, ast.expr] = {}
        self.imports: list[ModuleRef] = []
        # Per module-level name: the line of its first binding and the statement (or handler)
        # that binds it last; the compound statement around each def not at the top level.
        self.first_bound: dict[str, int] = {}
        self.last_bound: dict[str, ast.AST] = {}
        self.enclosing: dict[int, ast.stmt] = {}  # id(def) -> its block
        # What ``barque.parsing.staticnames`` learns walking the tree, on the first name it is asked
        # about: once per module however many decorators ask (a generated file may have thousands).
        self.static_names: object | None = None
        self._lines: list[bytes] | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def where(self, node: ast.AST | None) -> str:
        if node is None:
            return self.rel
        return location(self.rel, getattr(node, "lineno", None), getattr(node, "col_offset", None))

    def segment(self, node: ast.expr) -> str:
        """The exact source text of ``node`` (like ``ast.get_source_segment``, without
        splitting the whole file again on every call)."""
        if self._lines is None:
            self._lines = self.data.splitlines(keepends=True)
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        start, end = node.col_offset, node.end_col_offset
        if first == last:
            chunk = self._lines[first][start:end]
        else:
            chunk = self._lines[first][start:] + b"".join(self._lines[first + 1 : last]) + self._lines[last][:end]
        return chunk.decode("utf-8", errors="replace")


def read_module(rel: str, data: bytes, finder: ModuleFinder) -> SourceModule:
    """Parse ``data`` (the bytes of root-relative file ``rel``), check that it compiles and
    can be imported under its module name, and scan its bindings."""
    problem = module_problem(rel)
    if problem is not None:
        raise PipelineDefinitionError(problem[0], where=rel, hint=problem[1])
    tree = _parse_and_compile(data, rel)
    mod = SourceModule(rel=rel, module=module_name(rel), data=data, tree=tree)
    counts: dict[str, int] = {}
    for stmt, block in _module_statements(tree.body, None):
        if block is not None and isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mod.enclosing[id(stmt)] = block
        _scan(stmt, mod, finder, counts)
    mod.constants = {k: v for k, v in mod.constants.items() if counts.get(k) == 1}
    return mod


def _compile(tree: ast.Module, data: bytes, rel: str) -> None:
    """Compile the tree already parsed; if it is too deep for the tree's conversion back to C
    (which recurses sooner than the compiler does on source), compile the source, as import would."""
    try:
        compile(tree, rel, "exec", dont_inherit=True)
    except RecursionError:
        compile(data, rel, "exec", dont_inherit=True)


_FIX_SYNTAX = "Fix the syntax error; barque reads the file's source (without running it) to learn the graph."


def _parse_and_compile(data: bytes, rel: str) -> ast.Module:
    """The file's tree, once Python's compiler accepts it too (compiling the tree already
    parsed costs about a quarter of the parse, and nothing runs)."""
    step = "parse"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escapes: the user's concern, not the plan's
            tree = parse_source(data, rel)
            step = "compile"
            _compile(tree, data, rel)
    except SyntaxError as exc:
        col = exc.offset - 1 if exc.offset else None
        hint = _FIX_SYNTAX if step == "parse" else (
            "Python parses this but refuses to compile it, so importing the module would fail: fix it."
        )
        raise PipelineDefinitionError(f"syntax error: {exc.msg}", where=location(rel, exc.lineno, col), hint=hint) from None
    except ValueError as exc:  # source with null bytes
        raise PipelineDefinitionError(f"cannot parse the file: {exc}", where=rel, hint="Save it as UTF-8 text.") from None
    except (RecursionError, MemoryError):
        raise PipelineDefinitionError(
            f"the file is nested too deeply for Python's {'ast module' if step == 'parse' else 'compiler'} to read",
            where=rel,
            hint="Split the deepest expression or block (a very long chain of operators, deeply nested brackets) "
            "into smaller ones, e.g. through intermediate variables.",
        ) from None
    return tree


# A file larger than two pieces is parsed piece by piece (see ``parse_source``).
_PIECE = 64 * 1024
# Where a piece may end: before a blank line's column-0 decorator, def or class.
_PIECE_END = re.compile(rb"\n\n(?=@|def |async def |class )")


def parse_source(data: bytes, rel: str) -> ast.Module:
    """``ast.parse(data)``, with the same tree (positions included) and the same errors.

    A large file is parsed in pieces of about ``_PIECE`` bytes, each cut before a column-0
    ``@``/``def``/``class`` line that follows a blank line, with newlines prepended so that
    line numbers stay those of the file. A piece that parses on its own ends outside any
    bracket, string or line continuation, so its last line is where the file's statement
    ends too, and the module's body is the pieces' bodies in order. Whatever fails in a
    piece (a cut that is not such a boundary, a real syntax error) parses the whole file
    instead, which gives the error with its real position. Why: CPython's parser holds the
    whole file's tokens and C tree until it returns, so a 10,000-node file peaks near
    170 MB, and the page faults cost about as much as the parse; in 64 KiB pieces it stays
    near 85 MB and is ~20 % cheaper. Files with a coding cookie or ``\r`` line ends are not
    cut (a piece would lose the cookie, and lines are counted by ``\n``).
    """
    if len(data) <= 2 * _PIECE or b"\r" in data or b"coding" in data[: data.find(b"\n", data.find(b"\n") + 1)]:
        return ast.parse(data, filename=rel)
    body: list[ast.stmt] = []
    start = line = 0
    try:
        while start < len(data):
            cut = _PIECE_END.search(data, start + _PIECE) if start + 2 * _PIECE < len(data) else None
            end = cut.end() if cut else len(data)
            body += ast.parse(b"\n" * line + data[start:end], filename=rel).body
            line += data.count(b"\n", start, end)
            start = end
    except (SyntaxError, ValueError):
        return ast.parse(data, filename=rel)
    return ast.Module(body=body, type_ignores=[])


def _module_statements(body: Iterable[ast.stmt], block: ast.stmt | None) -> Iterator[tuple[ast.stmt, ast.stmt | None]]:
    """Module-level statements in order, including those inside compound blocks, each with
    the outermost compound statement around it (``None`` at the top level)."""
    for stmt in body:
        yield stmt, block
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        outer = block or stmt
        for name in ("body", "orelse", "finalbody"):
            yield from _module_statements(getattr(stmt, name, ()), outer)
        for handler in getattr(stmt, "handlers", ()):
            yield from _module_statements(handler.body, outer)
        for case in getattr(stmt, "cases", ()):
            yield from _module_statements(case.body, outer)


def _scan(stmt: ast.stmt, mod: SourceModule, finder: ModuleFinder, counts: dict[str, int]) -> None:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        _bind(mod, counts, stmt.name, Local(stmt.name), stmt)
        mod.functions[stmt.name] = stmt
        mod.defs.append(stmt)
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        if isinstance(stmt, ast.ImportFrom) and stmt.level:
            check_relative_import(stmt, mod.rel, finder)
        for name, binding in import_bindings(stmt, mod.rel, finder, mod.imports):
            _bind(mod, counts, name, binding, stmt)
    else:
        for name, site in _assigned_names(stmt):
            _bind(mod, counts, name, OPAQUE, site)
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                mod.constants[targets[0].id] = stmt.value


def _bind(mod: SourceModule, counts: dict[str, int], name: str, binding: Binding, site: ast.AST) -> None:
    mod.bindings[name] = binding
    counts[name] = counts.get(name, 0) + 1
    mod.first_bound.setdefault(name, getattr(site, "lineno", 0))
    mod.last_bound[name] = site


def _assigned_names(stmt: ast.stmt) -> Iterator[tuple[str, ast.AST]]:
    """Names a module-level statement binds, rebinds or unbinds, each with the node that
    does it (``x.attr = ...`` and ``x[k] = ...`` rebind none). Blocks nested in ``stmt``
    are scanned as statements of their own."""
    if isinstance(stmt, ast.ClassDef):
        yield stmt.name, stmt
        return
    targets: list[ast.expr]
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)  # a copy: the loop below pops from it
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in stmt.items if item.optional_vars is not None]
    elif isinstance(stmt, ast.Delete):
        targets = list(stmt.targets)
    else:
        targets = []
    # ``except E as name`` binds ``name`` and unbinds it when the handler ends.
    for handler in getattr(stmt, "handlers", ()):
        if handler.name:
            yield handler.name, handler
    for case in getattr(stmt, "cases", ()):
        yield from _captured(case.pattern)
    yield from _walrus_targets(stmt)
    while targets:
        target = targets.pop()
        if isinstance(target, ast.Name):
            yield target.id, stmt
        elif isinstance(target, (ast.Tuple, ast.List)):
            targets.extend(target.elts)
        elif isinstance(target, ast.Starred):
            targets.append(target.value)


def _captured(pattern: ast.pattern) -> Iterator[tuple[str, ast.AST]]:
    """Names a ``case`` pattern captures."""
    for node in ast.walk(pattern):
        name = getattr(node, "name", None) or getattr(node, "rest", None)
        if isinstance(name, str):
            yield name, node


def _walrus_targets(stmt: ast.stmt) -> Iterator[tuple[str, ast.AST]]:
    """``(name := ...)`` in the statement's own expressions (not its nested blocks), which
    binds at module level, comprehensions included; a lambda has a scope of its own."""
    todo: list[ast.AST] = []
    for _, value in ast.iter_fields(stmt):
        if isinstance(value, ast.expr):
            todo.append(value)
        elif isinstance(value, list):
            todo.extend(v for v in value if isinstance(v, (ast.expr, ast.withitem)))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            yield node.target.id, node
        if not isinstance(node, ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))


def import_bindings(
    stmt: ast.Import | ast.ImportFrom, importer: str, finder: ModuleFinder, found: list[ModuleRef]
) -> list[tuple[str, Binding]]:
    """What an import statement in file ``importer`` binds; project modules it reaches are
    appended to ``found`` so that they get read too."""
    if isinstance(stmt, ast.Import):
        return [_import_one(alias, importer, finder, found) for alias in stmt.names]
    if stmt.level == 0 and stmt.module in API_MODULES:
        return [(a.asname or a.name, _api_member(a.name)) for a in _star_api(stmt.names)]
    if stmt.level:
        ref = finder.relative(stmt.level, stmt.module, importer)
    else:
        ref = finder.absolute(stmt.module or "", importer)
    if ref is None:
        return [(a.asname or a.name, OPAQUE) for a in stmt.names if a.name != "*"]
    found.append(ref)
    out: list[tuple[str, Binding]] = []
    for alias in stmt.names:
        if alias.name == "*":
            continue  # a project star import is not followed (see the package docstring)
        sub = finder.submodule(ref, alias.name)
        if sub is not None:
            found.append(sub)
        out.append((alias.asname or alias.name, FromModule(ref, alias.name)))
    return out


def check_relative_import(stmt: ast.ImportFrom, importer: str, finder: ModuleFinder) -> None:
    """Refuse ``from .x import y`` in file ``importer`` when Python could not import it: the
    file is not inside a package that deep, or ``.x`` is not a module of the project."""
    where = location(importer, stmt.lineno, stmt.col_offset)
    dots = "." * stmt.level
    depth = package_depth(importer)
    if stmt.level > depth:
        inside = "is not inside a package" if depth == 0 else f"is only {depth} package level(s) deep"
        raise PipelineDefinitionError(
            f"`from {dots}{stmt.module or ''} import ...` cannot work: {importer} {inside}, "
            "so Python has no parent package to import from",
            where=where,
            hint="Import by the module's name (from helpers import ...), or put the files in a package "
            "(a directory with an __init__.py) and name a file inside it.",
        )
    if finder.relative(stmt.level, stmt.module, importer) is None and not (
        stmt.module and finder.compiled(stmt.level, stmt.module, importer)
    ):
        raise PipelineDefinitionError(
            f"`from {dots}{stmt.module or ''} import ...`: there is no module {dots}{stmt.module or ''} in the project",
            where=where,
            hint="Check the module's name and its number of dots: each dot is one package up from this file.",
        )


def _star_api(names: list[ast.alias]) -> list[ast.alias]:
    if any(a.name == "*" for a in names):
        return [ast.alias(name=n) for n in sorted(API_NAMES)]
    return names


def _api_member(name: str) -> Binding:
    if name in API_NAMES:
        return Api(name)
    return Api("") if name == "decorators" else OPAQUE


def _import_one(alias: ast.alias, importer: str, finder: ModuleFinder, found: list[ModuleRef]) -> tuple[str, Binding]:
    top = alias.name.partition(".")[0]
    if alias.name in API_MODULES:
        return (alias.asname or top, Api(""))
    ref = finder.absolute(alias.name, importer)
    if ref is None:
        return (alias.asname or top, OPAQUE)
    found.append(ref)
    if alias.asname:
        return (alias.asname, Module(ref))
    top_ref = finder.absolute(top, importer)  # `import a.b` binds `a`
    if top_ref is None:
        return (top, OPAQUE)
    found.append(top_ref)
    return (top, Module(top_ref))
