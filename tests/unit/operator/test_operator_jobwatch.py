"""The Job watch without kopf (``jobwatch``): the index it keeps and the runs it wakes. No servers:
the LIST and WATCH are functions handing over the API's dicts."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from barque_operator.jobwatch import JobIndex, Wake, watch_jobs

from .kube_over_http import kube_over_http

RUN_UID = "0000-run"


def job(name: str, phase: int = 0, ended: str | None = None, ns: str = "ns", version: str = "1",
        run: str = "r", uid: str = RUN_UID) -> dict[str, Any]:
    conditions = [{"type": ended, "status": "True"}] if ended else []
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": version,
                         "labels": {"barque.dev/run": run, "barque.dev/phase": str(phase)},
                         "ownerReferences": [{"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun",
                                              "name": run, "uid": uid, "controller": True}]},
            "spec": {"completions": 1}, "status": {"conditions": conditions}}


def test_a_job_that_ends_wakes_its_run_once_and_its_views_are_kept_by_phase() -> None:
    index = JobIndex()
    index.expect([None])
    assert index.replace(None, []) == [] and index.listed()
    assert index.apply("ADDED", job("r-p0")) is None
    assert index.apply("MODIFIED", job("r-p0")) is None
    assert index.apply("MODIFIED", job("r-p0", ended="Complete")) == Wake("ns", "r", "r-p0:Complete")
    assert index.apply("MODIFIED", job("r-p0", ended="Complete")) is None  # seen ended already
    assert index.apply("ADDED", job("r-p1", phase=1)) is None
    assert {p: v.name for p, v in index.jobs_of(RUN_UID).items()} == {0: "r-p0", 1: "r-p1"}
    assert index.apply("DELETED", job("r-p0", ended="Complete")) is None
    assert set(index.jobs_of(RUN_UID)) == {1}


def test_the_first_listing_wakes_nothing_and_a_relisting_wakes_the_jobs_that_ended_unseen() -> None:
    """After a restart the runs' own listing reconciles them; after a watch gap only the relisting knows."""
    index = JobIndex()
    index.expect([None])
    assert index.replace(None, [job("a-p0", ended="Complete", run="a", uid="a"), job("b-p0", run="b", uid="b")]) == []
    woken = index.replace(None, [job("a-p0", ended="Complete", run="a", uid="a"), job("b-p0", ended="Failed", run="b", uid="b"),
                                 job("c-p0", ended="Complete", run="c", uid="c")])
    assert woken == [Wake("ns", "b", "b-p0:Failed"), Wake("ns", "c", "c-p0:Complete")]


def test_a_relisting_of_one_namespace_keeps_the_others_and_drops_its_jobs_gone() -> None:
    index = JobIndex()
    index.expect(["x", "y"])
    index.replace("x", [job("a-p0", ns="x", run="a", uid="a")])
    assert not index.listed()  # the operator decides from every scope's Jobs, not from some
    index.replace("y", [job("b-p0", ns="y", run="b", uid="b")])
    assert index.listed()
    index.replace("x", [])
    assert index.jobs_of("a") == {} and set(index.jobs_of("b")) == {0}


def test_jobs_without_a_run_owner_are_not_kept() -> None:
    index = JobIndex()
    orphan = job("o-p0")
    orphan["metadata"]["ownerReferences"] = []
    assert index.apply("MODIFIED", orphan) is None and len(index) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), st.sampled_from(["r-p0", "r-p1"]),
                          st.sampled_from([None, "Complete", "Failed"])), max_size=12))
def test_the_index_holds_the_last_word_on_each_job_and_wakes_once_per_end_seen(
        events: list[tuple[str, str, str | None]]) -> None:
    index, last, ended, wakes = JobIndex(), {}, set(), 0
    for kind, name, outcome in events:
        body = job(name, phase=int(name[-1]), ended=outcome)
        woke = index.apply(kind, body)
        expected = kind != "DELETED" and outcome is not None and name not in ended
        assert (woke is not None) == expected
        wakes += woke is not None
        if kind == "DELETED":
            last.pop(name, None)
            ended.discard(name)
        else:
            last[name] = outcome
            ended = ended | {name} if outcome else ended - {name}
    assert {v.name: v.outcome for v in index.jobs_of(RUN_UID).values()} == last


def test_the_watch_lists_then_watches_from_the_lists_version_and_lists_again_after_a_410() -> None:
    index, stop, calls, woken = JobIndex(), threading.Event(), [], []
    index.expect([None])

    def list_jobs(scope: str | None) -> tuple[list[dict[str, Any]], str]:
        calls.append(("list", scope))
        return ([job("r-p0")], "10") if len(calls) == 1 else ([job("r-p0", ended="Complete")], "20")

    def watch(scope: str | None, version: str) -> Iterator[dict[str, Any]]:
        calls.append(("watch", version))
        if version == "10":
            yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}}
            return  # the server ended the stream: watched again from the bookmark's version
        if version == "12":
            yield {"type": "ERROR", "object": {"code": 410, "message": "too old"}}
        stop.set()

    watch_jobs(index, None, list_jobs, watch, woken.append, stop)
    assert calls == [("list", None), ("watch", "10"), ("watch", "12"), ("list", None), ("watch", "20")]
    assert woken == [Wake("ns", "r", "r-p0:Complete")]  # ended during the gap: the relisting saw it


def test_a_failed_watch_is_listed_and_watched_again_after_a_pause() -> None:
    index, stop, calls = JobIndex(), threading.Event(), []

    def list_jobs(scope: str | None) -> tuple[list[dict[str, Any]], str]:
        calls.append("list")
        if len(calls) == 1:
            raise ConnectionError("refused")
        return [], "5"

    def watch(scope: str | None, version: str) -> Iterator[dict[str, Any]]:
        stop.set()
        yield from ()

    watch_jobs(index, None, list_jobs, watch, lambda w: None, stop)
    assert calls == ["list", "list"]



class _WatchApi(http.server.BaseHTTPRequestHandler):
    """A LIST answers one Job; a WATCH streams two events in chunks (one split mid-line), then ends."""

    protocol_version = "HTTP/1.1"
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).paths.append(self.path)
        if "watch=true" not in self.path:
            body = json.dumps({"metadata": {"resourceVersion": "10"}, "items": [job("r-p0")]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        lines = (json.dumps({"type": "MODIFIED", "object": job("r-p0", ended="Complete", version="11")}) + "\n"
                 + json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}}) + "\n").encode()
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (lines[:30], lines[30:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


def test_the_kubernetes_client_lists_and_streams_the_watch_as_events() -> None:
    with kube_over_http(_WatchApi) as kube:
        items, version = kube.list_jobs("ns", "barque.dev/run")
        assert [i["metadata"]["name"] for i in items] == ["r-p0"] and version == "10"
        events = list(kube.watch_jobs(None, "barque.dev/run", version, 60, (5, 70)))
        assert [e["type"] for e in events] == ["MODIFIED", "BOOKMARK"]
        assert _WatchApi.paths[0].startswith("/apis/batch/v1/namespaces/ns/jobs?labelSelector=barque.dev/run")
        assert _WatchApi.paths[1].startswith("/apis/batch/v1/jobs?") and "resourceVersion=10" in _WatchApi.paths[1]
        assert "allowWatchBookmarks=true" in _WatchApi.paths[1]
