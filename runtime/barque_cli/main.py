"""The ``barque`` command: a thin layer over the core, the runtime and the operator.

Each command module registers its own sub-parser and imports what it needs only when it
runs, so ``barque run`` never loads Kubernetes, kopf or boto3 unless it uses them.
``barque FILE.py`` is short for ``barque run FILE.py``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Sequence

# Command modules in the order ``barque --help`` lists them. The Kubernetes ones are
# registered when their module is present in this installation.
COMMAND_MODULES = (
    "barque_cli.cmd_local",
    "barque_cli.cmd_compile",
    "barque_cli.cmd_submit",
    "barque_cli.cmd_status",
    "barque_cli.cmd_logs",
    "barque_cli.cmd_operator",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="barque",
        description="Run Python pipelines locally or on Kubernetes. `barque FILE.py` runs a pipeline.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


def _with_default_command(argv: list[str], commands: set[str]) -> list[str]:
    """``barque FILE.py`` and ``barque DIR`` mean ``barque run ...``; a command name always wins."""
    first = argv[0] if argv else ""
    if first and first not in commands and not first.startswith("-") and (first.endswith(".py") or os.path.isdir(first)):
        return ["run", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``barque`` console script; returns the exit code."""
    from barque.errors import BarqueError

    parser = build_parser()
    commands = set(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)
    args = parser.parse_args(_with_default_command(list(sys.argv[1:] if argv is None else argv), commands))
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except BarqueError as err:
        print(f"barque: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
