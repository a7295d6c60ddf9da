"""Errors meant for people: each names where the problem is and what to do about it."""

from __future__ import annotations


class BarqueError(Exception):
    """Base class for every error barque reports to a user.

    ``where`` is a location such as ``pipeline.py:12:4`` or ``PipelineRun demo/spec.targets``;
    ``hint`` says what to do. ``str()`` renders both, so a CLI can print it as is.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class PipelineDefinitionError(BarqueError):
    """The pipeline source is wrong: syntax, unknown input, cycle, bad decorator argument."""


class PlanError(BarqueError):
    """The graph is valid but a plan cannot be made (unknown target, unresolved partitions)."""


class StoreError(BarqueError):
    """The artifact store cannot be reached or holds something unreadable."""

    exit_code = 1


def location(file: str, line: int | None = None, col: int | None = None) -> str:
    """Format ``file:line:col`` with 1-based columns, leaving out what is unknown."""
    if line is None:
        return file
    if col is None:
        return f"{file}:{line}"
    return f"{file}:{line}:{col + 1}"
