"""Folding partition keys and batch groups written in a small, pure subset of Python.

``partitions([f"k{i:03d}" for i in range(100)])`` names its keys as surely as a literal list:
reading them here, without running user code, makes the partition static (no step evaluates it
in a worker, and a fully cached run can be certified); ``batches([["a", "b"], ["c"]])`` likewise
names its groups. This is the parser's only reader of such values. The subset: str and int
literals, lists and tuples, module-level names that ``barque.parsing.staticnames`` accepts,
``range``, ``str``, list comprehensions with ``for`` and ``if``, f-strings, int arithmetic,
comparisons, and ``+`` on strings and lists. Anything else, or more than ``BUDGET`` steps of
work, is not folded and the expression stays one the run evaluates.
"""

from __future__ import annotations

import ast
from typing import Any

from barque.parsing.source import SourceModule
from barque.parsing.staticnames import static_name

# Work allowed for one expression (elements made, characters built): past it, not folded.
# A literal's own elements cost nothing: the source that holds them is already read.
BUDGET = 100_000
_INT_LIMIT = 10**18


class _Unfoldable(Exception):
    """The expression leaves the subset or the budget."""


def fold_keys(mod: SourceModule, node: ast.expr) -> tuple[str, ...] | None:
    """The keys ``node`` computes, as strings (an int key is its string), or ``None`` when it
    is not in the subset, exceeds the budget or does not give a list or tuple of str/int."""
    value = _fold(mod, node)
    if not _is_keys(value):
        return None
    return tuple(str(v) for v in value)


def fold_groups(mod: SourceModule, node: ast.expr) -> tuple[tuple[str, ...], ...] | None:
    """The groups ``node`` computes (``batches(node)``), each a tuple of keys as strings, or
    ``None`` when it is not in the subset, exceeds the budget or does not give a list or tuple
    of lists or tuples of str/int."""
    value = _fold(mod, node)
    if not isinstance(value, (list, tuple)) or not all(_is_keys(group) for group in value):
        return None
    return tuple(tuple(str(k) for k in group) for group in value)


def _fold(mod: SourceModule, node: ast.expr) -> Any:
    try:
        return _Folder(mod).eval(node, {})
    except (_Unfoldable, RecursionError):
        return None


def _is_keys(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_key(v) for v in value)


def _is_key(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


class _Folder:
    def __init__(self, mod: SourceModule) -> None:
        self.mod, self.spent = mod, 0
        self.names_seen: set[str] = set()
        self.resolved: dict[str, Any] = {}

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > BUDGET:
            raise _Unfoldable

    def eval(self, node: ast.expr, scope: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant) and _is_key(node.value):
            return node.value
        self.spend(1)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.eval(e, scope) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Name):
            return self.name(node.id, scope)
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left, scope), self.eval(node.right, scope))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.int_(-_int(self.eval(node.operand, scope)))
        if isinstance(node, ast.Compare):
            return self.compare(node, scope)
        if isinstance(node, ast.BoolOp):
            values = [self.eval(v, scope) for v in node.values]
            if not all(isinstance(v, bool) for v in values):
                raise _Unfoldable
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.JoinedStr):
            return self.fstring(node, scope)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if isinstance(node, ast.ListComp):
            return self.comprehension(node, scope)
        raise _Unfoldable

    def name(self, name: str, scope: dict[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        if name in self.resolved:
            return self.resolved[name]
        static = static_name(self.mod, name)
        if name in self.names_seen or static is None:
            raise _Unfoldable  # a cycle, or a name that may not hold what it was assigned
        self.names_seen.add(name)
        value = self.eval(static.value, {})
        if static.shares_items and isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple)) for v in value):
            raise _Unfoldable  # an inner list could be changed through an alias (for row in NAME: ...)
        self.resolved[name] = value
        return value

    def int_(self, value: int) -> int:
        if abs(value) > _INT_LIMIT:
            raise _Unfoldable
        return value

    def binop(self, op: ast.operator, a: Any, b: Any) -> Any:
        if isinstance(op, ast.Add) and type(a) is type(b) and isinstance(a, (str, list, tuple)):
            self.spend(len(a) + len(b))
            return a + b
        a, b = _int(a), _int(b)
        if isinstance(op, ast.Add):
            return self.int_(a + b)
        if isinstance(op, ast.Sub):
            return self.int_(a - b)
        if isinstance(op, ast.Mult):
            return self.int_(a * b)
        if isinstance(op, (ast.FloorDiv, ast.Mod)) and b != 0:
            return a // b if isinstance(op, ast.FloorDiv) else a % b
        raise _Unfoldable

    def compare(self, node: ast.Compare, scope: dict[str, Any]) -> bool:
        left = self.eval(node.left, scope)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.eval(right_node, scope)
            if type(left) is not type(right) or not isinstance(left, (int, str)):
                raise _Unfoldable
            ops = {ast.Eq: left == right, ast.NotEq: left != right, ast.Lt: left < right,
                   ast.LtE: left <= right, ast.Gt: left > right, ast.GtE: left >= right}
            if type(op) not in ops:
                raise _Unfoldable
            if not ops[type(op)]:
                return False
            left = right
        return True

    def fstring(self, node: ast.JoinedStr, scope: dict[str, Any]) -> str:
        parts: list[str] = []
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part.value)
                continue
            if not isinstance(part, ast.FormattedValue) or part.conversion not in (-1, ord("s")):
                raise _Unfoldable
            value = self.eval(part.value, scope)
            if not _is_key(value):
                raise _Unfoldable
            if part.conversion == ord("s"):  # converted before the spec applies: f"{5!s:03d}" fails
                value = str(value)
            spec = self.fstring(part.format_spec, scope) if isinstance(part.format_spec, ast.JoinedStr) else ""
            widths = "".join(c if c.isdigit() else " " for c in spec).split()
            if len(spec) > 8 or any(len(w) > 4 for w in widths):  # a width such as 10**6 would build a huge string
                raise _Unfoldable
            try:
                text = format(value, spec)
            except ValueError:
                raise _Unfoldable from None
            self.spend(len(text))
            parts.append(text)
        return "".join(parts)

    def call(self, node: ast.Call, scope: dict[str, Any]) -> Any:
        func = node.func
        if node.keywords or not isinstance(func, ast.Name) or func.id in scope or func.id in self.mod.bindings:
            raise _Unfoldable  # only the builtins themselves, not a name the module rebinds
        args = [self.eval(a, scope) for a in node.args]
        if func.id == "range" and 1 <= len(args) <= 3:
            bounds = [_int(a) for a in args]
            if len(bounds) == 3 and bounds[2] == 0:
                raise _Unfoldable
            values = range(*bounds)
            self.spend(len(values))
            return list(values)
        if func.id == "str" and len(args) == 1 and _is_key(args[0]):
            return str(args[0])
        raise _Unfoldable

    def comprehension(self, node: ast.ListComp, scope: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        self._generate(node, node.generators, dict(scope), out)
        return out

    def _generate(self, node: ast.ListComp, gens: list[ast.comprehension], scope: dict[str, Any], out: list[Any]) -> None:
        if not gens:
            self.spend(1)  # the element may be a literal, which costs nothing itself
            out.append(self.eval(node.elt, scope))
            return
        gen = gens[0]
        if gen.is_async or not isinstance(gen.target, ast.Name):
            raise _Unfoldable
        items = self.eval(gen.iter, scope)
        if not isinstance(items, (list, tuple, str)):
            raise _Unfoldable
        for item in items:
            inner = {**scope, gen.target.id: item}
            conditions = [self.eval(c, inner) for c in gen.ifs]
            if not all(isinstance(c, bool) for c in conditions):
                raise _Unfoldable
            if all(conditions):
                self._generate(node, gens[1:], inner, out)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unfoldable
    return value
