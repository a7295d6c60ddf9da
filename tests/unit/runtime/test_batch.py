"""barca's ``batch=``: the keys of a partitioned node that need to run share calls; caching
stays per key; ``Failed(...)`` fails one key alone.

Real: the ``barque`` CLI in a child process, a local-folder store. ``--workers 1`` keeps every
key in one stream, so the grouping is the whole node's (see the README on streams).
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran, run_ok

KEYS = '["r1", "r2", "r3", "r4", "r5"]'


def batched(batch: str, body: str = 'return {k: {"k": k, "n": cleaned[k]["n"] * rate} for k in r}', extra: str = "") -> str:
    return f"""
from barca import Failed, asset, batches, batches_by, collect, partitions, partitions_from
{extra}

@asset()
def rate() -> int:
    return 10


@asset(partitions={{"r": partitions({KEYS})}})
def cleaned(r: str) -> dict:
    return {{"n": int(r[1:])}}


@asset(partitions={{"r": partitions_from(cleaned)}}, inputs={{"rate": rate}}, batch={batch})
def scored(r: list, cleaned: dict, rate: int) -> dict:
    trace(",".join(r))
    {body}


@asset(inputs={{"all": collect(scored)}})
def total(all: list) -> int:
    return sum(x["n"] for x in all)
"""


def run(folder: Path, *args: str) -> dict:
    return run_ok("total", "pipeline.py", "--workers", "1", *args, cwd=folder)


def test_batch_n_calls_the_function_with_at_most_n_keys_per_call(tmp_path: Path) -> None:
    pipeline(tmp_path, batched("2"))
    assert run(tmp_path)["final_output"] == 150
    assert ran(tmp_path) == ["r1,r2", "r3,r4", "r5"]


def test_batch_all_calls_the_function_once(tmp_path: Path) -> None:
    pipeline(tmp_path, batched('"all"'))
    run(tmp_path)
    assert ran(tmp_path) == ["r1,r2,r3,r4,r5"]


def test_a_partitioned_input_arrives_as_a_dict_by_key_and_a_shared_one_whole(tmp_path: Path) -> None:
    body = 'assert isinstance(cleaned, dict) and sorted(cleaned) == r and rate == 10, (cleaned, rate)\n    return {k: {"n": 1} for k in r}'
    pipeline(tmp_path, batched("3", body))
    assert run(tmp_path)["final_output"] == 5


def test_a_one_key_call_still_gets_lists_and_dicts(tmp_path: Path) -> None:
    body = 'assert r == ["r5"] or len(r) == 4, r\n    assert set(cleaned) == set(r), cleaned\n    return {k: {"n": 1} for k in r}'
    pipeline(tmp_path, batched("4", body))
    assert run(tmp_path)["final_output"] == 5


def test_caching_stays_per_key_so_a_new_key_runs_alone(tmp_path: Path) -> None:
    pipeline(tmp_path, batched('"all"'))
    run(tmp_path)
    ran(tmp_path)
    assert run(tmp_path)["steps_executed"] == 0
    pipeline(tmp_path, batched('"all"').replace(KEYS, '["r1", "r2", "r3", "r4", "r5", "r6"]'))
    assert run(tmp_path)["final_output"] == 210
    assert ran(tmp_path) == ["r6"]


def test_failed_fails_that_key_alone_and_the_others_are_cached(tmp_path: Path) -> None:
    body = 'return {k: Failed(f"{k} has no rows") if k == "r3" else {"n": 1} for k in r}'
    pipeline(tmp_path, batched('"all"', body))
    result = barque("run", "total", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1
    steps = {s["id"]: s for s in result.json["steps"]}
    assert steps["pipeline.py:scored[r=r3]"]["status"] == "failed"
    assert "BatchKeyFailed: r3 has no rows" in result.stderr
    assert [steps[f"pipeline.py:scored[r=r{i}]"]["status"] for i in (1, 2, 4, 5)] == ["ran"] * 4
    ran(tmp_path)
    barque("run", "total", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert ran(tmp_path) == ["r3"]


def test_a_key_the_call_returns_nothing_for_fails_alone(tmp_path: Path) -> None:
    pipeline(tmp_path, batched('"all"', 'return {k: {"n": 1} for k in r if k != "r2"}'))
    result = barque("run", "total", "pipeline.py", "--workers", "1", cwd=tmp_path)
    statuses = {s["id"]: s["status"] for s in result.json["steps"]}
    assert statuses["pipeline.py:scored[r=r2]"] == "failed"
    assert statuses["pipeline.py:scored[r=r1]"] == "ran"
    assert "returned no result for r=r2" in result.stderr


def test_a_key_that_is_not_the_calls_fails_every_key_of_the_call(tmp_path: Path) -> None:
    pipeline(tmp_path, batched("2", 'return {**{k: {"n": 1} for k in r}, "zz": {"n": 0}}'))
    result = barque("run", "total", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1
    assert all(s["status"] == "failed" for s in result.json["steps"] if s["id"].startswith("pipeline.py:scored"))
    assert "not one of its keys" in result.stderr


def test_integer_keys_match_their_string_form(tmp_path: Path) -> None:
    pipeline(tmp_path, batched('"all"', 'return {int(k[1:]): {"n": 1} for k in r}').replace(KEYS, '["r1", "r2"]'))
    src = (tmp_path / "pipeline.py").read_text().replace('"r1", "r2"', "1, 2").replace("int(r[1:])", "1").replace("int(k[1:])", "int(k)")
    (tmp_path / "pipeline.py").write_text(src)
    assert run(tmp_path)["final_output"] == 2


def test_a_call_that_raises_fails_all_its_keys(tmp_path: Path) -> None:
    pipeline(tmp_path, batched("2", 'raise RuntimeError("boom")'))
    result = barque("run", "total", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert sum(s["status"] == "failed" for s in result.json["steps"]) == 5


def test_a_data_frame_result_is_split_by_the_dimension_column(tmp_path: Path) -> None:
    body = 'import pandas as pd\n    return pd.DataFrame({"r": [k for k in r if k != "r5"], "n": [1] * (len(r) - 1)})'
    source = batched('"all"', body).replace('return sum(x["n"] for x in all)', 'return [len(x) for x in all]')
    pipeline(tmp_path, source)
    assert run(tmp_path)["final_output"] == [1, 1, 1, 1, 0]


def test_batches_groups_the_keys_named_and_runs_the_rest_alone(tmp_path: Path) -> None:
    pipeline(tmp_path, batched('batches([["r1", "r3"], ["r2", "r4"]])'))
    run(tmp_path)
    assert ran(tmp_path) == ["r1,r3", "r2,r4", "r5"]


def test_batches_strict_fails_a_key_in_no_group(tmp_path: Path) -> None:
    pipeline(tmp_path, batched('batches([["r1", "r2", "r3", "r4"]], strict=True)'))
    result = barque("run", "total", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1
    assert "in no group of batches" in result.stderr


def test_batches_by_shares_a_call_among_keys_with_one_label(tmp_path: Path) -> None:
    extra = "\ndef parity(key):\n    return int(key[1:]) % 2\n"
    pipeline(tmp_path, batched("batches_by(parity, max_size=2)", extra=extra))
    run(tmp_path)
    assert ran(tmp_path) == ["r1,r3", "r5", "r2,r4"]


def test_batches_of_an_expression_is_evaluated_in_the_module(tmp_path: Path) -> None:
    extra = '\nGROUPS = [["r" + str(i) for i in range(1, 6)]]\n'
    pipeline(tmp_path, batched("batches(list(GROUPS))", extra=extra))
    run(tmp_path)
    assert ran(tmp_path) == ["r1,r2,r3,r4,r5"]


def test_changing_batch_re_runs_the_keys(tmp_path: Path) -> None:
    pipeline(tmp_path, batched("2"))
    run(tmp_path)
    pipeline(tmp_path, batched("3"))
    assert run(tmp_path)["steps_executed"] == 5  # every key of scored; total is cut off (same bytes)


def test_a_keyed_sources_value_arrives_as_a_dict_of_the_calls_keys(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barca import asset, partitions_from


        @asset()
        def versions() -> dict:
            return {"a": 1, "b": 2, "c": 3}


        @asset(partitions={"k": partitions_from(versions)}, batch=2)
        def doubled(k: list, versions: dict) -> dict:
            trace(",".join(k))
            return {key: versions[key] * 2 for key in k}
    """)
    summary = run_ok("doubled", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == {"k=a": 2, "k=b": 4, "k=c": 6}
    assert ran(tmp_path) == ["a,b", "c"]


def test_failed_returned_outside_a_batch_is_a_value_as_in_barca(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barca import Failed, asset


        @asset()
        def a() -> object:
            return Failed("plain")
    """)
    summary = run_ok("a", "pipeline.py", cwd=tmp_path)
    assert summary["final_output"]["_repr"] == "Failed('plain')"


def test_a_retry_calls_again_only_the_keys_the_call_failed_together(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        import os
        from barca import Failed, asset, partitions


        @asset(partitions={"r": partitions(["a", "b", "c"])}, batch="all", retries=2)
        def s(r: list) -> dict:
            trace(",".join(r))
            first = not os.path.exists("seen")
            open("seen", "w").close()
            return {k: (Failed("first") if first and k != "a" else k) for k in r}
    """)
    summary = run_ok("s", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == {"r=a": "a", "r=b": "b", "r=c": "c"}
    assert ran(tmp_path) == ["a,b,c", "b,c"]
    assert {s["id"]: s["attempts"] for s in summary["steps"]} == {"pipeline.py:s[r=a]": 1, "pipeline.py:s[r=b]": 2, "pipeline.py:s[r=c]": 2}
