"""Cron evaluation and the CronJob-like schedule policy (pure; a fixed clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from barque_operator import schedule
from barque_operator.schedule import CronError, ScheduledRun, parse

UTC = timezone.utc


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/15 * * * *", "2025-01-01T10:07", "2025-01-01T10:15"),
        ("*/15 * * * *", "2025-01-01T10:15", "2025-01-01T10:30"),
        ("0 2 * * *", "2025-01-01T02:00", "2025-01-02T02:00"),
        ("30 9 * * mon-fri", "2025-01-03T10:00", "2025-01-06T09:30"),  # Friday after 9:30 -> Monday
        ("0 0 29 feb *", "2025-01-01T00:00", "2028-02-29T00:00"),
        ("0 12 1 * 0", "2025-01-01T13:00", "2025-01-05T12:00"),  # day-of-month OR Sunday
        ("@hourly", "2025-01-01T10:59", "2025-01-01T11:00"),
        ("@weekly", "2025-01-01T00:00", "2025-01-05T00:00"),
        ("0 0 * * 7", "2025-01-01T00:00", "2025-01-05T00:00"),  # 7 is Sunday too
        ("5-10/5 1,3 * jan,jul *", "2025-01-01T01:07", "2025-01-01T01:10"),
    ],
)
def test_next_due_time(expr: str, after: str, expected: str) -> None:
    assert parse(expr).next_after(t(after)) == t(expected)


def test_last_due_time_at_or_before() -> None:
    cron = parse("*/10 * * * *")
    assert cron.last_at_or_before(t("2025-01-01T10:25")) == t("2025-01-01T10:20")
    assert cron.last_at_or_before(t("2025-01-01T10:20")) == t("2025-01-01T10:20")


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "* * * * funday", "*/0 * * * *", "5-1 * * * *", "a b c d e"])
def test_bad_cron_is_rejected_with_the_field(expr: str) -> None:
    with pytest.raises(CronError):
        parse(expr)


CRON = parse("*/5 * * * *")
CREATED = t("2025-01-01T09:00")


def decide(now: str, **kw):  # type: ignore[no-untyped-def]
    return schedule.decide(cron=CRON, now=t(now), created=CREATED, **kw)


def test_a_due_slot_creates_one_run_and_recording_it_stops_repeats() -> None:
    d = decide("2025-01-01T10:07:30", last_schedule=t("2025-01-01T10:00"))
    assert d.create_for == t("2025-01-01T10:05") and d.next_time == t("2025-01-01T10:10")
    again = decide("2025-01-01T10:08:30", last_schedule=d.create_for)
    assert again.create_for is None


def test_missed_slots_are_not_replayed_only_the_latest_counts() -> None:
    d = decide("2025-01-01T12:01", last_schedule=t("2025-01-01T10:00"))
    assert d.create_for == t("2025-01-01T12:00")


def test_nothing_is_due_before_the_pipeline_existed() -> None:
    assert decide("2025-01-01T09:03", last_schedule=None).create_for is None
    assert decide("2025-01-01T09:05", last_schedule=None).create_for == t("2025-01-01T09:05")


def test_starting_deadline_drops_late_starts() -> None:
    d = decide("2025-01-01T10:08", last_schedule=t("2025-01-01T10:00"), starting_deadline=60)
    assert d.create_for is None and "startingDeadlineSeconds" in (d.skipped or "")
    assert decide("2025-01-01T10:05:30", last_schedule=t("2025-01-01T10:00"), starting_deadline=60).create_for


def active(name: str) -> ScheduledRun:
    return ScheduledRun(name, "Running", CREATED)


def test_forbid_skips_while_a_run_is_active_and_replace_cancels_it() -> None:
    runs = [active("demo-1")]
    forbid = decide("2025-01-01T10:05", last_schedule=t("2025-01-01T10:00"), policy="Forbid", runs=runs)
    assert forbid.create_for is None and "Forbid" in (forbid.skipped or "")
    replace = decide("2025-01-01T10:05", last_schedule=t("2025-01-01T10:00"), policy="Replace", runs=runs)
    assert replace.create_for == t("2025-01-01T10:05") and replace.cancel == ("demo-1",)
    allow = decide("2025-01-01T10:05", last_schedule=t("2025-01-01T10:00"), policy="Allow", runs=runs)
    assert allow.create_for and allow.cancel == ()


def test_suspend_creates_nothing() -> None:
    assert decide("2025-01-01T10:05", last_schedule=t("2025-01-01T10:00"), suspend=True).create_for is None


def test_history_beyond_the_limits_is_pruned_oldest_first() -> None:
    base = t("2025-01-01T00:00")
    runs = [ScheduledRun(f"ok-{i}", "Succeeded", base + timedelta(minutes=i)) for i in range(5)]
    runs += [ScheduledRun(f"bad-{i}", "Failed" if i % 2 else "Cancelled", base + timedelta(minutes=i)) for i in range(3)]
    runs.append(active("live"))
    assert schedule.prune(runs, keep_succeeded=3, keep_failed=1) == ("bad-0", "bad-1", "ok-0", "ok-1")


# -- maxFailures: consecutive failed scheduled runs (barca's Schedule(cron, max_failures=N)) ------


def finished(name: str, phase: str, minute: int) -> ScheduledRun:
    return ScheduledRun(name, phase, t("2025-01-01T10:00") + timedelta(minutes=minute))


def test_failed_runs_count_in_a_row_and_counting_twice_changes_nothing() -> None:
    runs = [finished("r1", "Failed", 1), finished("r2", "Failed", 2), finished("r3", "Running", 3)]
    once = schedule.count_failures(schedule.FailureCount(), runs, generation=1)
    assert (once.count, once.last_run) == (2, "r2")
    assert schedule.count_failures(once, runs, generation=1) == once


def test_a_succeeded_run_resets_the_count_and_a_cancelled_one_changes_nothing() -> None:
    runs = [finished("r1", "Failed", 1), finished("r2", "Succeeded", 2), finished("r3", "Failed", 3),
            finished("r4", "Cancelled", 4)]
    counted = schedule.count_failures(schedule.FailureCount(), runs, generation=1)
    assert (counted.count, counted.last_run) == (1, "r4")


def test_runs_deleted_by_the_history_limits_stay_counted() -> None:
    first = schedule.count_failures(schedule.FailureCount(), [finished("r1", "Failed", 1)], generation=1)
    later = schedule.count_failures(first, [finished("r2", "Failed", 2)], generation=1)  # r1 was pruned
    assert later.count == 2
    assert schedule.count_failures(later, [finished("r2", "Failed", 2)], generation=1) == later


def test_runs_are_counted_in_tick_order_and_a_run_still_going_holds_the_later_ones_back() -> None:
    def run(name: str, phase: str | None, created: int, done: int) -> ScheduledRun:
        base = t("2025-01-01T10:00")
        return ScheduledRun(name, phase, base + timedelta(minutes=done), base + timedelta(minutes=created))

    slow, quick = run("r1", None, created=1, done=1), run("r2", "Succeeded", created=2, done=3)
    first = schedule.count_failures(schedule.FailureCount(), [slow, quick], generation=1)
    assert (first.count, first.last_run) == (0, None)  # r2 waits for r1
    slow = run("r1", "Failed", created=1, done=9)  # finished after r2
    second = schedule.count_failures(first, [slow, quick], generation=1)
    assert (second.count, second.last_run) == (0, "r2")  # r1 failed, then r2 succeeded: in tick order
    assert schedule.count_failures(second, [slow, quick], generation=1) == second


def test_a_new_generation_of_the_pipeline_starts_the_count_again() -> None:
    failing = schedule.count_failures(schedule.FailureCount(), [finished("r1", "Failed", 1)], generation=1)
    fixed = schedule.count_failures(failing, [finished("r1", "Failed", 1)], generation=2)
    assert (fixed.count, fixed.last_run) == (0, "r1")  # r1 is not counted again


def test_ticks_are_skipped_once_max_failures_runs_failed_in_a_row() -> None:
    runs = [finished("r1", "Failed", 1), finished("r2", "Failed", 2)]
    counted = schedule.count_failures(schedule.FailureCount(), runs, generation=1)
    assert schedule.failing(counted, None) is None  # no maxFailures: never skipped
    assert schedule.failing(counted, 3) is None
    why = schedule.failing(counted, 2)
    assert why is not None and "2 scheduled runs failed in a row (maxFailures=2)" in why and "r2" in why
    for _ in range(2):
        d = decide("2025-01-01T10:07:30", last_schedule=t("2025-01-01T10:00"), failing=why)
        assert d.create_for is None and d.skipped is not None and "maxFailures=2" in d.skipped
