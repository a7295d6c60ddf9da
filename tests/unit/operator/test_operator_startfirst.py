"""Starts first: what waits for run starts under way, and for how long. Pure asyncio; no servers."""

from __future__ import annotations

import asyncio

from barque_operator.handlers_run import Written
from barque_operator.startfirst import Starts, is_start


def test_a_run_without_a_pinned_run_id_is_a_start_and_the_echo_of_its_write_is_not() -> None:
    assert is_start({"status": {}}, {})
    assert not is_start({"status": {"runId": "k8s/ns/r"}}, {})
    assert not is_start({"status": {}}, {"written": Written("12", {"runId": "k8s/ns/r"}, ())})


def test_waiting_for_starts_ends_when_the_last_start_ends() -> None:
    async def scenario() -> list[str]:
        starts, order = Starts(), []
        starts.begin()
        starts.begin()

        async def status_write() -> None:
            assert await starts.passed(5)
            order.append("status")

        waiter = asyncio.create_task(status_write())
        await asyncio.sleep(0.05)
        starts.end()
        await asyncio.sleep(0.05)
        order.append("second start ends")
        starts.end()
        await waiter
        return order

    assert asyncio.run(scenario()) == ["second start ends", "status"]


def test_waiting_for_starts_gives_up_after_its_timeout() -> None:
    async def scenario() -> bool:
        starts = Starts()
        starts.begin()
        return await starts.passed(0.05)

    assert asyncio.run(scenario()) is False


def test_with_no_start_under_way_nothing_waits() -> None:
    async def scenario() -> bool:
        starts = Starts()
        starts.begin()
        starts.end()
        return not starts.busy() and await starts.passed(0.01)

    assert asyncio.run(scenario())
