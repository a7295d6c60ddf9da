"""The ``barque`` command: a thin layer over the core, the runtime and the operator.

Each command module registers its own sub-parser and imports what it needs only when it
runs, so ``barque run`` never loads Kubernetes, kopf or boto3 unless it uses them.
``barque FILE.py`` is short for ``barque run FILE.py``.

A command named on the command line gets its own sub-parser alone: building all of them
(importing every command module, one ``ArgumentParser`` per command) was ~6 ms of every
run. ``barque``, ``barque --help`` and an unknown command build them all, so the help and
the "invalid choice" error list every command.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import argparse

# Each command and the module that registers it, in the order ``barque --help`` lists them.
# The Kubernetes ones are registered when their module is present in this installation.
COMMANDS = {
    **dict.fromkeys(("run", "get", "plan", "list", "graph", "show", "history", "stats", "exec"), "barque_cli.cmd_local"),
    "compile": "barque_cli.cmd_compile",
    "submit": "barque_cli.cmd_submit",
    "status": "barque_cli.cmd_status",
    "logs": "barque_cli.cmd_logs",
    "operator": "barque_cli.cmd_operator",
    "doctor": "barque_cli.cmd_doctor",
    "gc": "barque_cli.cmd_gc",
    **dict.fromkeys(("why", "lineage"), "barque_cli.cmd_why"),
    "version": "barque_cli.cmd_version",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def _command_module(name: str) -> Any | None:
    """The command module, or None when this installation leaves it out."""
    try:
        __import__(name)
    except ModuleNotFoundError as err:
        if err.name != name:  # the module is there but needs something that is not
            raise
        return None
    return sys.modules[name]


class _Ignored:
    """Stands in for the sub-parser of a command that is not being run: takes any call, does nothing."""

    def __getattr__(self, attr: str) -> Any:
        return self._ignore

    def _ignore(self, *args: Any, **kwargs: Any) -> _Ignored:
        return self


class _OnlyCommand:
    """What a module's ``register`` sees in place of the sub-parsers: only ``command`` is really added."""

    def __init__(self, sub: Any, command: str) -> None:
        self._sub = sub
        self._command = command

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self._command:
            return _Ignored()
        kwargs.setdefault("formatter_class", _formatter)
        return self._sub.add_parser(name, **kwargs)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing ``shutil`` (and its ``bz2``,
    ``lzma``, ``fnmatch``): argparse makes a help formatter for every argument it adds, and
    each asked ``shutil``, ~2 ms of every command's start-up (bench/FINDINGS.md)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def _formatter(prog: str) -> "argparse.HelpFormatter":
    import argparse

    return argparse.HelpFormatter(prog, width=_terminal_columns() - 2)  # argparse's own default width


def build_parser(command: str | None = None) -> "argparse.ArgumentParser":
    """The parser of every command, or of ``command`` alone (which must be in ``COMMANDS``)."""
    from barque_cli.usage import Parser

    parser = Parser(
        prog="barque",
        description="Run Python pipelines locally or on Kubernetes. `barque FILE.py` runs a pipeline.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="store_true", help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES if command is None else (COMMANDS[command],):
        module = _command_module(name)
        if module is not None:
            module.register(sub if command is None else _OnlyCommand(sub, command))
    return parser


def _with_default_command(argv: list[str], commands: set[str]) -> list[str]:
    """``barque FILE.py`` and ``barque DIR`` mean ``barque run ...``; a command name always wins."""
    first = argv[0] if argv else ""
    if first and first not in commands and not first.startswith("-") and (first.endswith(".py") or os.path.isdir(first)):
        return ["run", *argv]
    return argv


def _collect_after_start_up() -> None:
    """Hold the cyclic collector back until the first 50,000 allocations, then as before.

    Start-up makes some 20,000 objects that live until exit (modules, classes, functions) and
    no garbage; collecting every 700 allocations meanwhile cost ~4 ms of every command. The
    first collection, after 50,000 allocations, restores the interpreter's thresholds (in a
    forked worker too, if it comes first there).
    """
    usual = gc.get_threshold()

    def restore(phase: str, info: dict[str, Any]) -> None:
        if gc.get_threshold() != usual:
            gc.set_threshold(*usual)

    gc.callbacks.append(restore)
    gc.set_threshold(50_000, *usual[1:])


def main(argv: Sequence[str] | None = None, *, certify: bool = False) -> int:
    """The ``barque`` command (``argv``: ``sys.argv[1:]`` when ``None``); returns the exit code.

    ``certify``: a local run served wholly from cache writes its run certificate, which the
    console script's slim entry (``barque_cli.fastrun``) answers the same command line from."""
    if argv is None:
        _collect_after_start_up()
    try:
        return _main(list(sys.argv[1:] if argv is None else argv), console=certify and argv is None)
    finally:
        if argv is None:  # the console script: the process ends now
            # Everything still alive lives until exit, so the interpreter's teardown need not
            # look for cycles among it: its last full collection cost ~10 ms of every run.
            gc.freeze()


def _main(args_in: list[str], console: bool = False) -> int:
    from barque_runtime.cancel import interrupting_signal

    try:
        return _command(args_in, console)
    except BaseException as err:  # a signal exits as the shell reports it, without a traceback
        signum = interrupting_signal(err)
        if signum is None:
            raise
        return 128 + signum


def _command(args_in: list[str], console: bool = False) -> int:
    from barque.errors import BarqueError

    from barque_runtime.cancel import early_sigterm

    try:
        # SIGTERM while the command's modules load exits as the shell reports it (143), as
        # Ctrl-C does (130); a command that runs something takes over.
        with early_sigterm():
            args, parser = _parse(args_in)
    except BarqueError as err:  # an argument the parser rejects
        return _report(err, args_in)
    if args.version:
        from barque_cli.cmd_version import version_line

        print(version_line())
        return 0
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    if console:  # the command line as typed: what a run certificate answers
        args.console_argv = list(args_in)
    try:
        return int(args.func(args) or 0)
    except BarqueError as err:
        return _report(err, args_in)


def _report(err: Any, args_in: list[str]) -> int:
    """Print ``err`` on stderr (barca's JSON envelope when the output is JSON); its exit code."""
    from barque_cli.envelope import error_text, json_errors

    print(error_text(err, json_errors(args_in, os.environ, sys.stdout.isatty())), file=sys.stderr)
    return int(err.exit_code)


def _parse(args_in: list[str]) -> tuple[Any, Any]:
    first = args_in[0] if args_in else ""
    # Only the first argument decides whether a command is named, so the commands known here
    # are that one, if this installation has it.
    named = {first} if first in COMMANDS and _command_module(COMMANDS[first]) is not None else set()
    args_in = _with_default_command(args_in, named)
    parser = build_parser(args_in[0] if named or args_in[:1] == ["run"] else None)
    return parser.parse_args(args_in), parser


if __name__ == "__main__":
    sys.exit(main())
