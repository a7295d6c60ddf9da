"""Errors meant for people: each names where the problem is and what to do about it.

Each exit code is one ``kind`` of failure, as barca's contract has them (``usage`` 2,
``step_failed`` 1, ``infra`` 3, ``cancelled`` 130, and 143 for SIGTERM, which barque reports
as the shell does), and ``error_envelope`` is the one place that builds barca's JSON error.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own constant, without importing typing (the slim entry, barque_cli.fastrun, loads this)
if TYPE_CHECKING:
    from typing import Any

KIND_BY_CODE = {1: "step_failed", 2: "usage", 3: "infra", 130: "cancelled", 143: "cancelled"}


def error_envelope(code: int, error: str, remediation: str | None, **extra: Any) -> dict[str, Any]:
    """barca's error object: ``code`` (the exit code), ``error``, ``kind``, ``remediation``
    (what to do next, or None), and what a kind adds (``node``, ``traceback`` for ``step_failed``)."""
    return {"code": code, "error": error, "kind": KIND_BY_CODE.get(code, "infra"), "remediation": remediation, **extra}


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

    @property
    def kind(self) -> str:
        """barca's kind of this failure, which its exit code decides."""
        return KIND_BY_CODE.get(self.exit_code, "infra")

    def headline(self) -> str:
        """What went wrong, with where: the text before the hint."""
        return f"{self.where}: {self.message}" if self.where else self.message

    def render(self) -> str:
        text = self.headline()
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def envelope(self) -> dict[str, Any]:
        """The error as barca's JSON envelope."""
        return error_envelope(self.exit_code, self.headline(), self.hint)


class PipelineDefinitionError(BarqueError):
    """The pipeline source is wrong: syntax, unknown input, cycle, bad decorator argument."""


class PlanError(BarqueError):
    """The graph is valid but a plan cannot be made (unknown target, unresolved partitions)."""


class StoreError(BarqueError):
    """The artifact store cannot be reached or holds something unreadable: barca's ``infra``."""

    exit_code = 3


def location(file: str, line: int | None = None, col: int | None = None) -> str:
    """Format ``file:line:col`` with 1-based columns, leaving out what is unknown."""
    if line is None:
        return file
    if col is None:
        return f"{file}:{line}"
    return f"{file}:{line}:{col + 1}"
