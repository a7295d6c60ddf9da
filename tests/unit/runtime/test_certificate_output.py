"""The output a certificate keeps (``certify._output``): filled with a run's id and elapsed time
(``certificate.Answer.text``), it is byte for byte what the full path prints for that run, in
every output mode, whatever the value shown holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from barque import certificate
from barque_cli.output import render
from barque_runtime.certify import _output

JSONS = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


def _summary(value: Any, cached: int) -> dict[str, Any]:
    return {"run_id": "x", "status": "succeeded", "elapsed_seconds": 0.0, "steps_executed": 0, "steps_cached": cached,
            "steps_failed": 0, "steps_crashed": 0, "steps_skipped": 0, "steps_filtered": 0, "phases": 1,
            "targets": ["pipeline.py:a"], "final_output": value,
            "steps": [{"id": f"pipeline.py:a{i}", "kind": "asset", "status": "cached"} for i in range(cached)], "warnings": []}


@settings(max_examples=150, deadline=None)
@given(value=JSONS, cached=st.integers(1, 3), mode=st.sampled_from(["json", "pretty", "value"]),
       elapsed=st.floats(0, 10_000, allow_nan=False).map(lambda x: round(x, 4)), rand=st.integers(0, 0xFFFFFF))
def test_the_kept_output_filled_in_is_what_the_full_path_prints(value: Any, cached: int, mode: str, elapsed: float, rand: int) -> None:
    summary = _summary(value, cached)
    pieces = _output(summary, lambda s: render(s, mode))
    run_id = f"20261202T080000-{rand:06x}"
    expected = render({**summary, "run_id": run_id, "elapsed_seconds": elapsed}, mode)
    if pieces is None:  # only when the value shown could be taken for a slot's marker
        return
    assert certificate.Answer(pieces, "", "", cached).text(run_id, elapsed) == expected


def test_a_value_holding_the_markers_rendering_gives_no_kept_output() -> None:
    def render_twice(s: Any) -> str:  # as if the value shown printed the run id again
        return render(s, "json") + str(s["run_id"])

    assert _output(_summary(1, 1), render_twice) is None
