"""The echo of the operator's own status write: not reconciled unless something else changed with it. No servers."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from barque_operator.handlers_run import Written, cause, own_echo

META = {"name": "r", "namespace": "ns", "uid": "u", "generation": 1, "resourceVersion": "8",
        "annotations": {"barque.dev/reconcile": "r-p0:Complete"}}


def written_from(meta: dict[str, Any], version: str = "8") -> Written:
    return Written(version, {"phase": "Running"}, cause(meta))


def test_the_echo_of_the_last_status_write_with_nothing_else_changed_is_not_reconciled() -> None:
    assert own_echo({"type": "MODIFIED"}, META, written_from(META))


def test_an_echo_that_carries_a_wake_up_sent_meanwhile_is_reconciled() -> None:
    """A Job ended while the write was under way: its wake-up is in the echoed object."""
    woken = {**META, "annotations": {"barque.dev/reconcile": "r-p1:Complete"}}
    assert not own_echo({"type": "MODIFIED"}, woken, written_from(META))


def test_an_echo_that_carries_a_spec_change_or_a_deletion_is_reconciled() -> None:
    assert not own_echo({"type": "MODIFIED"}, {**META, "generation": 2}, written_from(META))
    assert not own_echo({"type": "MODIFIED"}, {**META, "deletionTimestamp": "2026-01-01T00:00:00Z"}, written_from(META))


def test_a_listing_another_version_or_no_write_remembered_is_reconciled() -> None:
    assert not own_echo({"type": None}, META, written_from(META))  # a (re)listing: a restart's first look
    assert not own_echo({"type": "MODIFIED"}, META, written_from(META, version="7"))
    assert not own_echo({"type": "MODIFIED"}, META, None)


@given(st.dictionaries(st.sampled_from(["barque.dev/reconcile", "a", "b"]), st.text(max_size=5)),
       st.dictionaries(st.sampled_from(["barque.dev/reconcile", "a", "b"]), st.text(max_size=5)),
       st.integers(1, 3), st.integers(1, 3))
def test_an_echo_is_skipped_exactly_when_generation_and_annotations_are_as_the_writer_saw_them(
        seen: dict[str, str], now: dict[str, str], gen_seen: int, gen_now: int) -> None:
    before = {**META, "annotations": seen, "generation": gen_seen}
    after = {**META, "annotations": now, "generation": gen_now}
    assert own_echo({"type": "MODIFIED"}, after, written_from(before)) == (seen == now and gen_seen == gen_now)


def test_a_decision_carried_out_is_settled_so_its_echo_has_nothing_to_decide() -> None:
    """Why ``own_echo`` may skip: deciding again from the facts a carried-out decision left (its
    Jobs created, its records written, its status) asks for no action and changes no status field
    but the ones that change by themselves; through a run's phases, a failure and its end."""
    from barque_operator.runcycle import status_patch
    from tests.unit.operator.test_operator_reconcile import World

    for failing in (None, {"raw": "failed"}):
        world = World()
        while not world.reconcile().finished:  # a run that ended is not reconciled again
            written = dict(world.status)
            again = world.reconcile()
            assert again.actions == () and status_patch(written, world.status) == {}
            running = [i for i, j in world.jobs.items() if not j.finished]
            world.run_job(running[0], outcome=failing)
        assert world.status["phase"] == ("Failed" if failing else "Succeeded")
