"""Cron schedules for Pipelines: a small cron evaluator and the CronJob-like policy decisions.

Pure, UTC, minute resolution. Five fields (minute hour day-of-month month day-of-week) with
``*``, lists, ranges, steps, month and weekday names, ``7`` for Sunday, and the ``@hourly``
style macros. As in Vixie cron, when both day fields are restricted a day matches either.

The decisions mirror a CronJob's: only the most recent due time counts (missed ones are
not replayed), ``startingDeadlineSeconds`` drops a start that is too late, ``Forbid`` skips
while a scheduled run is active, ``Replace`` cancels it, and finished runs beyond the history
limits are deleted oldest first. The last schedule time lives on the Pipeline's status, so
a restarted operator neither misses nor repeats a slot; the run's name is derived from its
slot, so creating it twice is a harmless 409.

``maxFailures`` is barca's ``Schedule(cron, max_failures=N)``: after N scheduled runs failed
in a row, due slots are skipped. The count is folded from finished runs into the Pipeline's
status (``count_failures``), oldest first, each run once (a watermark of the last one counted),
because the history limits delete old runs: a Failed run adds one, a Succeeded run resets it,
a Cancelled one (Replace, or by hand) changes nothing. A new spec generation - the fix applied -
starts the count again, which is how a failing schedule resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Sequence

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, MONTHS),
           ("day of week", 0, 7, DAYS))
_SEARCH_DAYS = 366 * 8  # enough to find Feb 29 on any weekday


class CronError(ValueError):
    """An unreadable cron expression; the message names the field and what is wrong."""


@dataclass(frozen=True)
class Cron:
    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month is "*"
    any_weekday: bool  # day-of-week is "*"

    def day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow

    def matches(self, moment: datetime) -> bool:
        return self.day_matches(moment) and moment.hour in self.hours and moment.minute in self.minutes

    def next_after(self, moment: datetime) -> datetime | None:
        """The first due time strictly after ``moment``."""
        start = _utc(moment).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(_SEARCH_DAYS):
            if self.day_matches(day):
                for h in sorted(self.hours):
                    for m in sorted(self.minutes):
                        t = day.replace(hour=h, minute=m)
                        if t >= start:
                            return t
            day += timedelta(days=1)
        return None

    def last_at_or_before(self, moment: datetime) -> datetime | None:
        """The latest due time at or before ``moment``."""
        end = _utc(moment).replace(second=0, microsecond=0)
        day = end.replace(hour=0, minute=0)
        for _ in range(_SEARCH_DAYS):
            if self.day_matches(day):
                for h in sorted(self.hours, reverse=True):
                    for m in sorted(self.minutes, reverse=True):
                        t = day.replace(hour=h, minute=m)
                        if t <= end:
                            return t
            day -= timedelta(days=1)
        return None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse(expr: str) -> Cron:
    """Parse a cron expression; ``CronError`` says which field is wrong."""
    text = MACROS.get(expr.strip().lower(), expr.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"cron {expr!r} needs 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(expr, sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")


def _field(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        rng, _, step_text = item.partition("/")
        step = _number(step_text, name, names=None) if step_text else 1
        if step < 1:
            raise CronError(f"cron {name} step must be at least 1 in {item!r}")
        if rng == "*":
            first, last = lo, hi
        elif "-" in rng:
            a, b = rng.split("-", 1)
            first, last = _number(a, name, names), _number(b, name, names)
        else:
            first = _number(rng, name, names)
            last = hi if step_text else first
        if not (lo <= first <= hi and lo <= last <= hi) or first > last:
            raise CronError(f"cron {name} {item!r} is outside {lo}-{hi}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, name: str, names: dict[str, int] | None) -> int:
    key = text.strip().lower()
    if names and key in names:
        return names[key]
    if not key.isdigit():
        raise CronError(f"cron {name} {text!r} is not a number" + (f" or a name ({', '.join(names)})" if names else ""))
    return int(key)


# -- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledRun:
    """A run the schedule created, as observed."""

    name: str
    phase: str | None  # the run's status.phase
    time: datetime  # completion time if finished, else creation time
    created: datetime | None = None  # creation time (``time`` when not given): the order of the ticks

    @property
    def tick_order(self) -> tuple[datetime, str]:
        return _utc(self.created or self.time), self.name

    @property
    def active(self) -> bool:
        return self.phase not in ("Succeeded", "Failed", "Cancelled")


@dataclass(frozen=True)
class ScheduleDecision:
    create_for: datetime | None = None  # the slot to create a run for
    cancel: tuple[str, ...] = ()  # active runs to cancel (Replace)
    delete: tuple[str, ...] = ()  # finished runs beyond the history limits
    skipped: str | None = None  # why a due slot did not start
    next_time: datetime | None = None
    active: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FailureCount:
    """Consecutive failed scheduled runs, for spec ``generation``, counted up to ``last_run``."""

    count: int = 0
    generation: int | None = None
    last_run: str | None = None
    last_time: datetime | None = None

    def counted(self, run: ScheduledRun) -> bool:
        """Whether ``run`` is at or before the watermark (in tick order)."""
        return self.last_time is not None and run.tick_order <= (_utc(self.last_time), self.last_run or "")


def count_failures(prior: FailureCount, runs: Sequence[ScheduledRun], generation: int | None) -> FailureCount:
    """``prior`` with the runs it has not counted yet folded in, in tick (creation) order.

    Folding stops at the first run still going, so a run that finishes after a later tick's
    run is counted in its own place, once; creation times never move, completion times do.
    """
    count = prior.count if prior.generation == generation else 0
    last_run, last_time = prior.last_run, prior.last_time
    for run in sorted((r for r in runs if not prior.counted(r)), key=lambda r: r.tick_order):
        if run.active:
            break
        if run.phase == "Failed":
            count += 1
        elif run.phase == "Succeeded":
            count = 0
        last_time, last_run = run.tick_order
    return FailureCount(count, generation, last_run, last_time)


def failing(count: FailureCount, max_failures: int | None) -> str | None:
    """Why ticks are skipped, or ``None`` when they are not."""
    if max_failures is None or count.count < max_failures:
        return None
    return (f"{count.count} scheduled runs failed in a row (maxFailures={max_failures}), the last {count.last_run}; "
            "ticks are skipped")


def decide(
    *,
    cron: Cron,
    now: datetime,
    last_schedule: datetime | None,
    created: datetime,
    policy: str = "Allow",
    starting_deadline: int | None = None,
    suspend: bool = False,
    runs: Sequence[ScheduledRun] = (),
    keep_succeeded: int = 3,
    keep_failed: int = 1,
    failing: str | None = None,
) -> ScheduleDecision:
    """What the schedule asks for at ``now``, given the runs it created before.

    ``failing`` (from ``failing()``) skips a due slot, as barca skips the ticks of a failing schedule.
    """
    active = tuple(sorted(r.name for r in runs if r.active))
    delete = prune(runs, keep_succeeded, keep_failed)
    next_time = None if suspend else cron.next_after(now)
    base = ScheduleDecision(delete=delete, next_time=next_time, active=active)
    if suspend:
        return base
    due = cron.last_at_or_before(now)
    since = _utc(last_schedule or created)
    if due is None or due <= since:
        return base
    if starting_deadline is not None and (_utc(now) - due).total_seconds() > starting_deadline:
        return ScheduleDecision(delete=delete, next_time=next_time, active=active,
                                skipped=f"missed {due:%Y-%m-%dT%H:%MZ} by more than startingDeadlineSeconds={starting_deadline}")
    if failing:
        return ScheduleDecision(delete=delete, next_time=next_time, active=active,
                                skipped=f"{due:%Y-%m-%dT%H:%MZ} skipped: {failing}")
    if active and policy == "Forbid":
        return ScheduleDecision(delete=delete, next_time=next_time, active=active,
                                skipped=f"{due:%Y-%m-%dT%H:%MZ} skipped: concurrencyPolicy Forbid and {active[0]} is still running")
    cancel = active if policy == "Replace" else ()
    return ScheduleDecision(create_for=due, cancel=cancel, delete=delete, next_time=next_time, active=active)


def prune(runs: Sequence[ScheduledRun], keep_succeeded: int, keep_failed: int) -> tuple[str, ...]:
    """Finished runs beyond the limits, oldest first (cancelled runs count as failed)."""
    done = sorted((r for r in runs if not r.active), key=lambda r: (r.time, r.name), reverse=True)
    succeeded = [r.name for r in done if r.phase == "Succeeded"]
    failed = [r.name for r in done if r.phase != "Succeeded"]
    return tuple(sorted(succeeded[keep_succeeded:] + failed[keep_failed:]))
