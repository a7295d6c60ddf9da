"""Argument errors as barque errors, so they are reported like any other (barca's envelope in
JSON mode), and exactly as argparse prints them otherwise (usage, then ``prog: error: ...``)."""

from __future__ import annotations

import argparse
from typing import NoReturn

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
