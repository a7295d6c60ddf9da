"""The operator's small pure helpers: merge patches, Pipeline checks, resume, plan growth, settings (no servers)."""

from __future__ import annotations

from datetime import datetime, timezone

from barque.model import Graph, InputSpec, Node, PartitionSpec
from barque.planner import make_plan
from barque.plans import grow_plan
from barque_operator.observed import pod_endings
from barque.resume import reusable_records
from barque_operator.settings import OperatorSettings
from barque_operator.status import merge_patch
from barque_operator.validation import check_pipeline, pipeline_status
from tests.unit.operator.operator_samples import graph, pipeline

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
SETTINGS = OperatorSettings(default_image="img", default_store="s3://bucket/x")


def test_merge_patch_is_empty_when_nothing_changed_and_prunes_below_the_top() -> None:
    old = {"phase": "Running", "plan": {"totalSteps": 3, "deferred": [1]}, "kopf": {"x": 1}, "message": "m"}
    assert merge_patch(old, {"phase": "Running", "plan": {"totalSteps": 3, "deferred": [1]}}) == {}
    assert merge_patch(old, {"phase": "Failed", "plan": {"totalSteps": 4}, "message": None}) == {
        "phase": "Failed", "plan": {"totalSteps": 4, "deferred": None}, "message": None}
    assert merge_patch({}, {"message": None}) == {}


def test_a_valid_pipeline_is_ready() -> None:
    check = check_pipeline(pipeline(), SETTINGS)
    assert check.ok, check.message
    status = pipeline_status(check, 1, {}, NOW)
    assert status["nodes"] == 5 and status["conditions"][0]["status"] == "True"


def _with_node(node: Node) -> dict:  # type: ignore[type-arg]
    return pipeline(graph=graph({node.id: node}).to_dict())


def test_unknown_inputs_cycles_missing_code_and_bad_cron_are_reported() -> None:
    bad_input = Node(id="x", kind="asset", file="pipeline.py", module="pipeline", function="x", line=30,
                     inputs=(InputSpec("y", "nowhere"),))
    assert "reads unknown node 'nowhere'" in check_pipeline(_with_node(bad_input), SETTINGS).message
    body = pipeline()
    body["spec"]["graph"]["nodes"][0]["inputs"] = [{"param": "r", "source": "report", "collect": False}]
    assert "cycle" in check_pipeline(body, SETTINGS).message
    assert "lacks pipeline.py" in check_pipeline(pipeline(code={"inline": {"files": {"other.py": ""}}}), SETTINGS).message
    check = check_pipeline(pipeline(schedule={"cron": "61 * * * *"}), SETTINGS)
    assert not check.ok and "spec.schedule.cron" in check.message
    assert pipeline_status(check, 2, {}, NOW)["conditions"][0] == {
        "type": "Ready", "status": "False", "reason": "Invalid", "message": check.message,
        "lastTransitionTime": "2025-01-01T00:00:00Z"}


def test_missing_image_and_store_are_reported_unless_the_operator_has_defaults() -> None:
    body = pipeline()
    body["spec"]["defaults"] = {}
    del body["spec"]["store"]
    assert check_pipeline(body, SETTINGS).ok
    problems = check_pipeline(body, OperatorSettings()).message
    assert "no runtime image" in problems and "no artifact store" in problems


def test_resume_reuses_unchanged_succeeded_steps_and_their_dependants_only() -> None:
    g = graph()
    plan = make_plan(g, None, 2)
    ok = {"state": "succeeded", "output_id": "o", "artifact": {"content_hash": "ab" * 32}, "logs": {}}
    previous = {"raw": {**ok, "step": "raw"}, "clean": {**ok, "step": "clean"},
                "other": {"step": "other", "state": "failed"}}
    changed = Graph(root=".", nodes={**g.nodes, "clean": Node(**{**g.nodes["clean"].to_dict(), "inputs": (InputSpec("raw", "raw"),),
                                                            "code_hash": "edited"})}, files=g.files)
    reused = reusable_records(plan=plan, graph=g, params={}, previous_graph=g, previous_params={},
                              previous_records=previous, previous_run="demo-0", run_id="k8s/ns/demo-1-x")
    assert sorted(reused) == ["clean", "raw"]
    assert reused["clean"]["state"] == "cached" and reused["clean"]["reused_from"] == "demo-0"
    assert "logs" not in reused["clean"] and reused["clean"]["run_id"] == "k8s/ns/demo-1-x"
    edited = reusable_records(plan=plan, graph=changed, params={}, previous_graph=g, previous_params={},
                              previous_records=previous, previous_run="demo-0", run_id="r")
    assert sorted(edited) == ["raw"]


def test_a_grown_plan_keeps_its_phases_and_appends_new_ones() -> None:
    days = Node(id="days", kind="asset", file="pipeline.py", module="pipeline", function="days", line=40)
    per = Node(id="per", kind="asset", file="pipeline.py", module="pipeline", function="per", line=44,
               partitions=(PartitionSpec("day", "from", source="days"),), inputs=(InputSpec("raw", "raw"),))
    g = graph({"days": days, "per": per})
    first = make_plan(g, None, 2)
    assert [d.node for d in first.deferred] == ["per"]
    grown = grow_plan(first, make_plan(g, None, 2, {"per": ["mon", "tue"]}))
    assert grown.phases[: len(first.phases)] == first.phases
    new = [s for p in grown.phases[len(first.phases):] for st in p.streams for s in st.steps]
    assert sorted(new) == ["per[day=mon]", "per[day=tue]"]
    assert [p.index for p in grown.phases] == list(range(len(grown.phases)))
    assert grown.deferred == ()


def test_pod_endings_take_each_indexs_latest_pod() -> None:
    def pod(index: str, finished: str, message: str) -> dict:  # type: ignore[type-arg]
        return {"metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": index}},
                "status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 1, "finishedAt": finished,
                                                                           "message": message}}}]}}
    pods = [pod("0", "2025-01-01T00:00:01Z", "first"), pod("0", "2025-01-01T00:00:09Z", "second"), pod("1", "x", "other")]
    assert pod_endings(pods) == {0: ("PodFailure", "second"), 1: ("PodFailure", "other")}


def test_settings_flags_win_over_env_over_defaults() -> None:
    env = {"BARQUE_WATCH_NAMESPACES": "a, b,a", "BARQUE_METRICS_PORT": "9090", "BARQUE_DEFAULT_IMAGE": "env-img"}
    s = OperatorSettings.from_sources(env=env, default_image="flag-img")
    assert s.namespaces == ("a", "b") and s.metrics_port == 9090 and s.health_port == 8081
    assert s.default_image == "flag-img"
    assert OperatorSettings.from_sources(env=env, namespaces=["c"]).namespaces == ("c",)
    assert OperatorSettings.from_sources(env={}).namespaces == ()


def test_settings_from_an_empty_environment_are_the_declared_defaults() -> None:
    # One default per setting: the environment's absence must not read as a second, older one.
    assert OperatorSettings.from_sources(env={}) == OperatorSettings()


def test_a_jobs_owning_run_is_its_pipelinerun_owner_reference() -> None:
    from barque_operator.observed import owning_run

    refs = [{"apiVersion": "v1", "kind": "Pod", "uid": "p"},
            {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun", "uid": "run-uid"}]
    assert owning_run({"metadata": {"ownerReferences": refs}}) == "run-uid"
    assert owning_run({"metadata": {"ownerReferences": refs[:1]}}) is None
    assert owning_run({"metadata": {}}) is None
