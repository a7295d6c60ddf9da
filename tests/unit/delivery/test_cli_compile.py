"""``barque compile``: deterministic Pipeline manifests that the operator's model accepts.

Nothing but the parser, the operator's pydantic models and PyYAML: no cluster.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from barque_cli.cmd_compile import compile_to_yaml, size_warnings
from barque_cli.main import main
from barque_operator.models import Pipeline

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"

PIPELINE = '''"""Two assets."""
from barque import asset


@asset()
def numbers() -> list[int]:
    return [1, 2, 3]


@asset(inputs={"nums": numbers})
def total(nums: list[int]) -> int:
    return sum(nums)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    return tmp_path


def test_compile_prints_a_pipeline_the_operator_model_accepts(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(project / "pipeline.py"), "--name", "demo", "--namespace", "team-a"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    Pipeline.model_validate(manifest)
    assert manifest["apiVersion"] == "barque.dev/v1alpha1" and manifest["kind"] == "Pipeline"
    assert manifest["metadata"] == {"name": "demo", "namespace": "team-a"}
    assert [n["id"] for n in manifest["spec"]["graph"]["nodes"]] == ["pipeline.py:numbers", "pipeline.py:total"]
    assert manifest["spec"]["graph"]["root"] == "."


def test_inline_code_round_trips_to_the_bytes_the_graph_hashed(project: Path) -> None:
    (project / "odd.py").write_text("from barque import asset\n\n\n@asset()\ndef x() -> int:  \n\treturn 1\n\n\n")
    manifest = yaml.safe_load(compile_to_yaml([str(project)], name="demo"))
    files = manifest["spec"]["code"]["inline"]["files"]
    assert set(files) == set(manifest["spec"]["graph"]["files"]) == {"pipeline.py", "odd.py"}
    for rel, text in files.items():
        assert hashlib.sha256(text.encode()).hexdigest() == manifest["spec"]["graph"]["files"][rel]


def test_output_is_deterministic_and_independent_of_where_the_project_lives(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("other") / "copy"
    shutil.copytree(project, elsewhere)
    first = compile_to_yaml([str(project / "pipeline.py")], name="demo")
    assert compile_to_yaml([str(project / "pipeline.py")], name="demo") == first
    assert compile_to_yaml([str(elsewhere / "pipeline.py")], name="demo") == first
    assert str(project) not in first


def test_only_given_options_are_written(project: Path) -> None:
    bare = yaml.safe_load(compile_to_yaml([str(project)], name="demo"))
    assert set(bare["spec"]) == {"graph", "code"}
    full = yaml.safe_load(compile_to_yaml(
        [str(project)], name="demo", image="reg.example/barque:1", store="s3://bucket/prefix",
        store_secret="store-creds", schedule="0 6 * * *", concurrency_policy="Forbid",
    ))
    assert full["spec"]["defaults"] == {"image": "reg.example/barque:1"}
    assert full["spec"]["store"] == {"uri": "s3://bucket/prefix", "secretName": "store-creds"}
    assert full["spec"]["schedule"] == {"cron": "0 6 * * *", "concurrencyPolicy": "Forbid"}


def test_parse_error_names_file_and_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pipeline.py").write_text("from barque import asset\n\n\n@asset(inputs={'x': missing})\ndef f(x):\n    return x\n")
    assert main(["compile", str(tmp_path / "pipeline.py"), "--name", "demo"]) == 2
    err = capsys.readouterr().err
    assert "pipeline.py:4" in err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--name", "Not_Valid"], "invalid Pipeline name"),
        (["--name", "demo", "--schedule", "every day"], "schedule"),
        (["--name", "demo", "--store", "ftp://nope"], "store"),
        (["--name", "demo", "--store-secret", "creds"], "--store-secret needs --store"),
    ],
)
def test_bad_options_are_usage_errors(project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    assert main(["compile", str(project / "pipeline.py"), *argv]) == 2
    assert expected in capsys.readouterr().err


def test_output_file_option_writes_the_same_text(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pipeline.yaml"
    assert main(["compile", str(project / "pipeline.py"), "--name", "demo", "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert out.read_text() == compile_to_yaml([str(project / "pipeline.py")], name="demo")


SCHEDULED = '''from barque import Schedule, asset


@asset(freshness=Schedule("0 5 * * *"))
def daily() -> int:
    return 1


@asset(freshness=Schedule("0 5 * * *"))
def also_daily() -> int:
    return 2


@asset()
def unscheduled() -> int:
    return 3
'''


def test_nodes_with_one_schedule_give_the_pipeline_its_schedule_and_targets(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(SCHEDULED)
    spec = yaml.safe_load(compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily"))["spec"]
    assert spec["schedule"] == {"cron": "0 5 * * *", "targets": ["pipeline.py:also_daily", "pipeline.py:daily"],
                                "maxFailures": 5}  # barca's default


def test_schedule_options_reach_the_pipelines_schedule_and_its_runs(tmp_path: Path) -> None:
    from barque_operator.manifests import scheduled_run

    (tmp_path / "pipeline.py").write_text(
        SCHEDULED.replace('Schedule("0 5 * * *")', 'Schedule("0 5 * * *", max_failures=2, timeout_seconds=89.5)'))
    text = compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily")
    assert text == compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily")
    pipeline = yaml.safe_load(text)
    assert pipeline["spec"]["schedule"] == {"cron": "0 5 * * *", "targets": ["pipeline.py:also_daily", "pipeline.py:daily"],
                                            "maxFailures": 2, "timeoutSeconds": 90}
    pipeline["metadata"].update(namespace="ns", uid="u1")
    assert scheduled_run(pipeline, "daily-1", "2025-01-01T05:00:00Z")["spec"]["timeoutSeconds"] == 90


def test_nodes_whose_schedule_options_differ_are_an_error(tmp_path: Path) -> None:
    from barque.errors import BarqueError

    (tmp_path / "pipeline.py").write_text(
        SCHEDULED.replace('Schedule("0 5 * * *"))\ndef also', 'Schedule("0 5 * * *", max_failures=1))\ndef also'))
    with pytest.raises(BarqueError, match="2 different schedules.*max_failures=1"):
        compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily")


def test_schedule_batch_reaches_the_pipelines_schedule_and_each_ticks_run(tmp_path: Path) -> None:
    from barque_operator.manifests import scheduled_run

    (tmp_path / "pipeline.py").write_text(BATCHED.replace("batch=BATCH", 'batch={"scored": "all"}'))
    pipeline = yaml.safe_load(compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily"))
    assert pipeline["spec"]["schedule"] == {"cron": "0 5 * * *", "targets": ["pipeline.py:scored"], "maxFailures": 5,
                                            "batch": ["scored=all"]}
    pipeline["metadata"].update(namespace="ns", uid="u1")
    assert scheduled_run(pipeline, "daily-1", "2025-01-01T05:00:00Z")["spec"]["batch"] == ["scored=all"]


def test_a_schedule_batch_naming_a_node_without_batch_is_refused_at_compile(tmp_path: Path) -> None:
    from barque.errors import BarqueError

    (tmp_path / "pipeline.py").write_text(BATCHED.replace("batch=BATCH", 'batch="plain=all"'))
    with pytest.raises(BarqueError, match=r"Schedule\(batch=\) names pipeline.py:plain, which declares no batch=") as err:
        compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily")
    assert err.value.where == "pipeline.py:scored" and "add batch= to the node" in (err.value.hint or "")


def test_nodes_whose_schedule_batch_differs_are_an_error(tmp_path: Path) -> None:
    from barque.errors import BarqueError

    (tmp_path / "pipeline.py").write_text(
        SCHEDULED.replace('Schedule("0 5 * * *"))\ndef also', 'Schedule("0 5 * * *", batch="all"))\ndef also'))
    with pytest.raises(BarqueError, match=r"2 different schedules.*batch=\['all'\]"):
        compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily")


BATCHED = '''
from barque import Schedule, asset, partitions


@asset(partitions={"k": partitions(["a", "b", "c"])}, batch=1, freshness=Schedule("0 5 * * *", batch=BATCH))
def scored(k: list) -> dict:
    return {key: key for key in k}


@asset(partitions={"k": partitions(["a", "b"])})
def plain(k: str) -> str:
    return k
'''


def test_nodes_with_different_schedules_are_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    from barque.errors import BarqueError

    (tmp_path / "pipeline.py").write_text(SCHEDULED.replace('Schedule("0 5 * * *"))\ndef also', 'Schedule("0 6 * * *"))\ndef also'))
    with pytest.raises(BarqueError, match="2 different schedules") as err:
        compile_to_yaml([str(tmp_path / "pipeline.py")], name="daily")
    assert "--schedule" in (err.value.hint or "")


def test_a_small_pipeline_compiles_without_a_size_warning(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(project / "pipeline.py"), "--name", "demo"]) == 0
    assert capsys.readouterr().err == ""


def test_a_pipeline_past_client_side_applys_annotation_limit_is_told_to_apply_server_side(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    padding = "".join(f"# line {i:06d} of a long comment that the Pipeline carries with the code\n" for i in range(4_000))
    (project / "pipeline.py").write_text(PIPELINE + padding)
    assert main(["compile", str(project / "pipeline.py"), "--name", "demo", "--form", "plain"]) == 0
    out = capsys.readouterr()
    assert Pipeline.model_validate(yaml.safe_load(out.out))  # the manifest is still printed whole
    assert "over the 256 KiB" in out.err and "kubectl apply --server-side" in out.err and "--form packed" in out.err


def test_a_pipeline_past_client_side_applys_limit_is_packed_by_default(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    padding = "".join(f"# line {i:06d} of a long comment that the Pipeline carries with the code\n" for i in range(4_000))
    (project / "pipeline.py").write_text(PIPELINE + padding)
    assert main(["compile", str(project / "pipeline.py"), "--name", "demo"]) == 0
    out = capsys.readouterr()
    spec = yaml.safe_load(out.out)["spec"]
    assert "graph" not in spec and set(spec["code"]["inline"]) == {"filesGzip", "pipelineFiles"}
    assert spec["code"]["inline"]["pipelineFiles"] == ["pipeline.py"]
    assert len(out.out) < 256 * 1024 and out.err.startswith("barque: note: packed the Pipeline") and "warning" not in out.err
    unpacked = Pipeline.model_validate(yaml.safe_load(out.out)).spec.code.inline
    assert unpacked is not None and unpacked.files == {"pipeline.py": PIPELINE + padding}


def test_a_small_pipeline_stays_plain_unless_packing_is_asked_for(project: Path) -> None:
    plain = yaml.safe_load(compile_to_yaml([str(project / "pipeline.py")], name="demo"))
    assert set(plain["spec"]) == {"graph", "code"} and set(plain["spec"]["code"]["inline"]) == {"files"}
    packed = yaml.safe_load(compile_to_yaml([str(project)], name="demo", form="packed"))
    assert set(packed["spec"]) == {"code"} and packed["spec"]["code"]["inline"]["pipelineFiles"] == ["pipeline.py"]


def test_the_packed_form_is_deterministic(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(project / "pipeline.py", elsewhere / "pipeline.py")
    first = compile_to_yaml([str(project / "pipeline.py")], name="demo", form="packed")
    assert compile_to_yaml([str(elsewhere / "pipeline.py")], name="demo", form="packed") == first


def test_a_packed_pipeline_still_too_large_is_told_so_without_suggesting_packing() -> None:
    [warning] = size_warnings(2 * 1024 * 1024, packed=True)
    assert "RequestEntityTooLarge" in warning and "compressed" in warning and "--form" not in warning


@pytest.mark.parametrize(("size", "expected"), [
    (256 * 1024, None),
    (256 * 1024 + 1, "kubectl apply --server-side"),
    (1536 * 1024, "kubectl apply --server-side"),
    (1536 * 1024 + 1, "RequestEntityTooLarge"),
])
def test_size_warnings_follow_kubernetes_default_limits(size: int, expected: str | None) -> None:
    warnings = size_warnings(size)
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and expected in warnings[0]
