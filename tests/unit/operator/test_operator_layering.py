"""Import rules the operator keeps (checked on the source, no imports executed)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "operator" / "barque_operator"


def _imports(path: Path, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_operator_never_imports_the_runtime() -> None:
    for path in PACKAGE.glob("*.py"):
        assert not {n for n in _imports(path) if n.split(".")[0] == "barque_runtime"}, path.name


def test_only_kube_talks_to_the_kubernetes_client() -> None:
    for path in PACKAGE.glob("*.py"):
        if path.name != "kube.py":
            assert not {n for n in _imports(path) if n.split(".")[0] == "kubernetes"}, path.name


def test_pure_modules_import_neither_kopf_nor_the_client() -> None:
    for name in ("models", "naming", "manifests", "status", "reconcile", "observed", "schedule", "planpin", "validation", "settings"):
        roots = {n.split(".")[0] for n in _imports(PACKAGE / f"{name}.py")}
        assert not roots & {"kopf", "kubernetes", "boto3"}, name


def test_the_cli_command_module_imports_only_argparse_and_typing_at_module_level() -> None:
    path = ROOT / "runtime" / "barque_cli" / "cmd_operator.py"
    assert _imports(path, module_level_only=True) <= {"__future__", "argparse", "typing"}
