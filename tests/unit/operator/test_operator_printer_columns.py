"""``kubectl get bpr -o wide`` shows a count for every terminal step state a run can end a step
in (succeeded is the Progress column's numerator), so a person sees how a run ended without
reading its status."""

from __future__ import annotations

from barque.steprecord import StepState
from barque_operator import crdgen


def test_every_terminal_step_state_but_succeeded_has_a_printer_column_of_its_count() -> None:
    (version,) = crdgen.pipelinerun_crd()["spec"]["versions"]
    paths = {c["jsonPath"] for c in version["additionalPrinterColumns"]}
    terminal = {s.value for s in StepState} - {"succeeded"}
    assert {f".status.counts.{state}" for state in terminal} <= paths
