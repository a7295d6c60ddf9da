"""Leader election on a Lease: of several replicas exactly one acts, a standby takes over a Lease left
unrenewed, a leader that cannot renew stops before anyone else may start. Pure: an in-memory Lease
with the API server's compare-and-swap on resourceVersion, and a fake clock."""

from __future__ import annotations

import copy
from typing import Any, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barque_operator.leader import ElectionSettings, Elector, LeaseState, Observed, decide, lease_body

LEASE, RENEW, RETRY = 15.0, 10.0, 2.0


class FakeLeases:
    """One namespace's Leases as the API server keeps them: a write with a stale resourceVersion is a 409."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("the API server is not answering")

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        return copy.deepcopy(self.leases.get(name))

    def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        self._check()
        name = body["metadata"]["name"]
        if name in self.leases:
            return None
        return self._store(name, body)

    def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        self._check()
        current = self.leases.get(name)
        if current is None or current["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            return None
        return self._store(name, body)

    def _store(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[name] = stored
        return copy.deepcopy(stored)

    def holder(self) -> str | None:
        lease = self.leases.get("barque")
        return lease["spec"]["holderIdentity"] if lease else None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _replica(api: FakeLeases, clock: Clock, name: str, lost: list[str] | None = None) -> Elector:
    s = ElectionSettings("barque", "ops", name, LEASE, RENEW, RETRY)
    return Elector(api, s, clock=clock, sleep=lambda _: None, on_lost=(lost.append if lost is not None else None))


def test_the_first_replica_takes_a_missing_lease_and_the_second_waits() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = _replica(api, clock, "a"), _replica(api, clock, "b")
    assert a.step() == "acquire" and api.holder() == "a"
    assert b.step() == "wait"
    clock.now += RETRY
    assert a.step() == "renew"
    clock.now += LEASE - 1  # b saw the Lease change RETRY ago: not yet expired by b's clock
    assert b.step() == "wait" and api.holder() == "a"


def test_a_standby_takes_over_a_lease_left_unrenewed_for_the_lease_duration() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = _replica(api, clock, "a"), _replica(api, clock, "b")
    a.step()
    b.step()  # b first sees a's Lease now
    clock.now += LEASE - 0.1
    assert b.step() == "wait"
    clock.now += 0.1
    assert b.step() == "acquire" and api.holder() == "b"
    assert api.leases["barque"]["spec"]["leaseTransitions"] == 1


def test_expiry_is_measured_by_the_standbys_clock_not_the_holders_timestamps() -> None:
    api, clock = FakeLeases(), Clock()
    a = _replica(api, clock, "a")
    a.step()
    api.leases["barque"]["spec"]["renewTime"] = "2000-01-01T00:00:00.000000Z"  # a holder whose clock is far behind
    b = _replica(api, clock, "b")
    assert b.step() == "wait"  # b has not watched it stay unchanged for a whole lease yet


def test_of_two_standbys_taking_an_expired_lease_one_wins() -> None:
    api, clock = FakeLeases(), Clock()
    a, b, c = (_replica(api, clock, n) for n in "abc")
    a.step()
    b._read(), c._read()
    clock.now += LEASE
    b._read(), c._read()
    assert decide("b", b.seen, clock(), LEASE, False) == decide("c", c.seen, clock(), LEASE, False) == "acquire"
    assert [b._write(), c._write()] == [True, False]  # c wrote with the resourceVersion b replaced
    assert api.holder() == "b"


def test_a_leader_that_cannot_renew_within_the_deadline_stops() -> None:
    api, clock, lost = FakeLeases(), Clock(), []
    a = _replica(api, clock, "a", lost)
    a.acquire()
    api.down = True
    ticks = iter(range(100))

    def sleep(_: float) -> None:
        clock.now += RETRY
        if next(ticks) > 50:
            a.release()

    a.sleep = sleep
    a.renew_until_lost()
    assert len(lost) == 1 and "no renewal" in lost[0]
    assert clock.now - 1000.0 <= RENEW + RETRY  # it stopped by the deadline (a standby waits LEASE > RENEW)


def test_a_leader_that_finds_another_holder_stops_at_once() -> None:
    api, clock, lost = FakeLeases(), Clock(), []
    a = _replica(api, clock, "a", lost)
    a.step()
    api.leases["barque"]["spec"]["holderIdentity"] = "intruder"
    a.sleep = lambda _: None
    a.renew_until_lost()
    assert lost and "intruder" in lost[0]


def test_a_released_lease_is_taken_at_the_next_look() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = _replica(api, clock, "a"), _replica(api, clock, "b")
    a.step()
    assert b.step() == "wait"
    a.release()
    assert api.holder() is None
    assert b.step() == "acquire" and api.holder() == "b"


def test_a_renew_deadline_as_long_as_the_lease_is_refused() -> None:
    with pytest.raises(ValueError, match="renew deadline must be shorter"):
        Elector(FakeLeases(), ElectionSettings("barque", "ops", "a", 10, 10, 2))


def test_taking_a_lease_bumps_transitions_and_sets_acquire_time() -> None:
    previous = LeaseState("a", "t0", 3, "7")
    body = lease_body("barque", "ops", "b", 15, previous, "t1")
    assert body["spec"]["leaseTransitions"] == 4 and body["spec"]["acquireTime"] == "t1"
    assert body["metadata"]["resourceVersion"] == "7"
    renewal = lease_body("barque", "ops", "a", 15, previous, "t1")
    assert renewal["spec"]["leaseTransitions"] == 3 and "acquireTime" not in renewal["spec"]


def test_decide_never_takes_a_lease_another_renewed_within_the_lease() -> None:
    seen = Observed(LeaseState("a", "t", 0, "1"), changed_at=100.0)
    assert decide("b", seen, 100.0 + LEASE - 0.001, LEASE, False) == "wait"
    assert decide("b", seen, 100.0 + LEASE, LEASE, False) == "acquire"
    assert decide("a", seen, 1e9, LEASE, True) == "renew"


# Any interleaving of rounds, pauses, crashes and API outages: at no moment do two replicas act.
# A replica acts from a successful take or renewal until RENEW has passed without one (then it
# stops itself), which is what `renew_until_lost` does.
ACTIONS = st.lists(st.tuples(st.sampled_from(["step", "wait", "crash", "outage"]), st.integers(0, 2),
                             st.floats(0.1, 8.0)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(ACTIONS)
def test_at_most_one_replica_acts_at_any_moment(actions: list[tuple[str, int, float]]) -> None:
    api, clock = FakeLeases(), Clock()
    replicas = [_replica(api, clock, n) for n in "abc"]
    last_ok: dict[int, float] = {}
    crashed: set[int] = set()
    for action, i, dt in actions:
        if action == "wait":
            clock.now += dt
        elif action == "crash":
            crashed.add(i)
            last_ok.pop(i, None)
        elif action == "outage":
            api.down = not api.down
        elif i not in crashed:
            try:
                verdict = replicas[i].step()
            except ConnectionError:
                verdict = "wait"
            if verdict in ("acquire", "renew"):
                last_ok[i] = clock.now
            elif verdict == "lost":
                last_ok.pop(i, None)
        acting = [r for r, t in last_ok.items() if clock.now - t < RENEW]
        assert len(acting) <= 1, (acting, api.leases)


def test_leader_election_settings_come_from_the_environment_and_the_lease_lives_in_the_pods_namespace() -> None:
    from barque_operator.settings import OperatorSettings

    s = OperatorSettings.from_sources(env={"BARQUE_LEADER_ELECTION": "barque", "POD_NAMESPACE": "ops",
                                           "BARQUE_LEASE_SECONDS": "6", "BARQUE_RENEW_DEADLINE_SECONDS": "4"})
    assert (s.leader_lease, s.leader_namespace, s.lease_seconds, s.renew_deadline_seconds) == ("barque", "ops", 6.0, 4.0)
    assert OperatorSettings.from_sources(env={}).leader_lease is None
    with pytest.raises(ValueError, match="BARQUE_LEASE_SECONDS"):
        OperatorSettings.from_sources(env={"BARQUE_LEASE_SECONDS": "-1"})


def test_a_standby_answers_its_health_probe() -> None:
    import socket
    import urllib.request

    from barque_operator.main import standby_health

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with standby_health(port):
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
