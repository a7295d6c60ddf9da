"""Argument errors as barque errors, so they are reported like any other (barca's envelope in
JSON mode), and exactly as argparse prints them otherwise (usage, then ``prog: error: ...``)."""

from __future__ import annotations

import argparse
from typing import Callable, NoReturn

from barque.errors import BarqueError


class ArgumentError(BarqueError):
    """The command line could not be parsed: barca's ``usage`` (exit 2)."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        super().__init__(message, hint=f"{parser.format_usage().strip()}\n`{parser.prog} --help` lists the arguments")

    def human_text(self) -> str:
        """argparse's own report: the usage line, then ``prog: error: message``."""
        return f"{self.parser.format_usage()}{self.parser.prog}: error: {self.message}"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (its sub-parsers are of this class too) that raises ``ArgumentError``."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentError(message, self)


def at_least_one(what: str, hint: str = "give 1 or more") -> Callable[[str], int]:
    """An argparse type: a whole number of at least 1; ``what`` names the count in the error
    ("0 workers cannot run anything: ...") that argparse turns into exit 2."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{number} {what} cannot run anything: {hint}")
        return number

    return parse


WORKERS = at_least_one("workers", "give 1 or more, or leave it out for one per CPU")
BATCHES_AT_ONCE = at_least_one("batches at once")


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """The connection flags every cluster command takes."""
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the kubeconfig context's, else 'default')")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config, else in-cluster)")
    p.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")
