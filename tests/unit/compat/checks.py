"""One check per runnable row of the compatibility table (``table.py``).

Each check runs the real `barque` CLI (a child process, stdout captured) in a fresh folder
and asserts what the row says. A check receives the row's status, so a row whose status
changes flips by that alone where the check asserts both behaviours.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Callable

import yaml

from ..runtime.clirun import Result, barque, write

Check = Callable[[Path, str], None]
CHECKS: dict[str, Check] = {}


def check(fn: Check) -> Check:
    """Register ``fn`` under its name without the ``check_`` prefix."""
    CHECKS[fn.__name__.removeprefix("check_")] = fn
    return fn


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def steps(result: Result) -> dict[str, str]:
    """Step id -> ``ran``/``cached``/``failed``/``skipped`` from a run's JSON summary."""
    return {s["id"]: s["status"] for s in result.json["steps"]}


def envelope(result: Result) -> dict:
    """The last JSON object on stderr (barca's error envelope)."""
    found = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert found, result.stderr
    return found[-1]


def refused_option(tmp: Path, source: str, option: str) -> None:
    """Today's main: a barca option barque does not read is exit 2 naming it."""
    write(tmp, "pipeline.py", source)
    result = barque("list", "pipeline.py", cwd=tmp)
    assert result.code == 2 and f"`{option}`" in result.stderr, result.stderr


def accepted(tmp: Path, source: str) -> Result:
    """The file runs (for a flipped row: the option is read)."""
    write(tmp, "pipeline.py", source)
    return ok(barque("run", "pipeline.py", cwd=tmp))


def by_status(status: str, tmp: Path, source: str, option: str) -> None:
    if status == "unsupported":
        refused_option(tmp, source, option)
    else:
        accepted(tmp, source)


CHAIN = """
from barque import asset, task

@asset()
def numbers() -> list:
    return [1, 2, 3]

@asset(inputs={"nums": numbers})
def total(nums: list) -> dict:
    return {"total": sum(nums)}

@task(inputs={"t": total})
def notify(t: dict) -> None:
    print("notify", t)
"""


# -- authoring API --------------------------------------------------------------------------------


@check
def check_barca_imports(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN.replace("from barque import", "from barca import"))
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["final_output"] == {"total": 6}


@check
def check_bare_decorators(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barca import asset, task\n\n@asset\ndef a() -> int:\n    return 1\n\n@task\ndef t() -> None:\n    pass\n")
    assert ok(barque("get", "a", "pipeline.py", cwd=tmp)).json["final_output"] == 1


@check
def check_inputs_wiring(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["final_output"] == {"total": 6}


@check
def check_unknown_decorator_argument(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barque import asset\n\n@asset(input={})\ndef a() -> int:\n    return 1\n")
    result = barque("list", "pipeline.py", cwd=tmp)
    assert result.code == 2 and envelope(result)["kind"] == "usage" and "inputs" in envelope(result)["error"]


@check
def check_asset_ref(tmp: Path, status: str) -> None:
    write(tmp, "src.py", "from barque import asset\n\n@asset()\ndef raw() -> int:\n    return 2\n")
    write(tmp, "use.py", 'from barque import asset, asset_ref\n\n@asset(inputs={"r": asset_ref("src.py:raw")})\ndef doubled(r: int) -> int:\n    return r * 2\n')
    assert ok(barque("get", "doubled", "src.py", "use.py", cwd=tmp)).json["final_output"] == 4


@check
def check_retries(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", """
from pathlib import Path
from barque import asset

@asset(retries=2)
def flaky() -> int:
    mark = Path("tried")
    if not mark.exists():
        mark.write_text("1")
        raise RuntimeError("first attempt fails")
    return 7
""")
    result = ok(barque("get", "flaky", "pipeline.py", cwd=tmp))
    assert result.json["final_output"] == 7 and result.json["steps"][0]["attempts"] == 2


@check
def check_timeout_default(tmp: Path, status: str) -> None:
    from barque.parsing import parse_project

    write(tmp, "pipeline.py", "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    assert parse_project([str(tmp / "pipeline.py")]).nodes["pipeline.py:a"].timeout_seconds is None


@check
def check_env_in_cache_key(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'import os\nfrom barque import asset\n\n@asset(env=["REGION"])\ndef a() -> str:\n    return os.environ.get("REGION", "")\n')
    ok(barque("get", "a", "pipeline.py", cwd=tmp, env={"REGION": "eu"}))
    assert steps(ok(barque("get", "a", "pipeline.py", cwd=tmp, env={"REGION": "eu"}))) == {"pipeline.py:a": "cached"}
    assert steps(ok(barque("get", "a", "pipeline.py", cwd=tmp, env={"REGION": "us"}))) == {"pipeline.py:a": "ran"}


@check
def check_dotenv(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'import os\nfrom barque import asset\n\n@asset(env=["SOURCE"])\ndef a() -> int:\n    return 1\n')
    write(tmp, ".env", "SOURCE=a.csv\n")
    ok(barque("get", "a", "pipeline.py", cwd=tmp))
    (tmp / ".env").write_text("SOURCE=b.csv\n")
    assert steps(ok(barque("get", "a", "pipeline.py", cwd=tmp))) == {"pipeline.py:a": "ran"}


@check
def check_undeclared_env_warning(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'import os\nfrom barque import asset\n\n@asset()\ndef a() -> str:\n    return os.environ.get("REGION", "")\n')
    warned = "not declared in env=" in ok(barque("get", "a", "pipeline.py", cwd=tmp)).stderr
    assert warned is (status != "unsupported")


@check
def check_unused_input_warning(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n\n@asset(inputs={"rows": a})\ndef b(rows: int) -> int:\n    return 2\n')
    warned = "never uses its input" in ok(barque("get", "b", "pipeline.py", cwd=tmp)).stderr
    assert warned is (status != "unsupported")


@check
def check_manual_freshness(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barque import asset, Manual\n\n@asset(freshness=Manual)\ndef base() -> int:\n    return 1\n")
    never = barque("get", "base", "pipeline.py", cwd=tmp)
    assert never.code == 2 and "--refresh base" in envelope(never)["remediation"]
    ok(barque("get", "base", "pipeline.py", "--refresh", "base", cwd=tmp))
    (tmp / "pipeline.py").write_text((tmp / "pipeline.py").read_text().replace("return 1", "return 2"))
    assert ok(barque("get", "base", "pipeline.py", cwd=tmp)).json["final_output"] == 1


@check
def check_schedule_options(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'from barque import asset, Schedule\n\n@asset(freshness=Schedule("0 5 * * *", max_failures=2, timeout_seconds=60))\ndef a() -> int:\n    return 1\n')
    manifest = ok(barque("compile", "pipeline.py", "--name", "etl", cwd=tmp)).stdout
    assert "0 5 * * *" in manifest and "maxFailures: 2" in manifest


@check
def check_schedule_batch(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'from barque import asset, Schedule\n\n@asset(freshness=Schedule("0 5 * * *", batch="all"))\ndef a() -> int:\n    return 1\n')
    manifest = yaml.safe_load(ok(barque("compile", "pipeline.py", "--name", "etl", cwd=tmp)).stdout)
    assert manifest["spec"]["schedule"]["batch"] == ["all"]


@check
def check_weight(tmp: Path, status: str) -> None:
    by_status(status, tmp, "from barque import asset\n\n@asset(weight=2)\ndef a() -> int:\n    return 1\n", "weight")


@check
def check_deterministic(tmp: Path, status: str) -> None:
    by_status(status, tmp, "from barque import asset\n\n@asset(deterministic=False)\ndef a() -> int:\n    return 1\n", "deterministic")


@check
def check_cutoff_option(tmp: Path, status: str) -> None:
    by_status(status, tmp, "from barque import asset\n\n@asset(cutoff=True)\ndef a() -> int:\n    return 1\n", "cutoff")


@check
def check_batch_option(tmp: Path, status: str) -> None:
    source = ('from barque import asset, partitions\n\n@asset(partitions={"k": partitions(["a", "b"])}, batch=2)\n'
              "def a(k: list) -> dict:\n    return {x: x for x in k}\n")
    by_status(status, tmp, source, "batch")


def importable(tmp: Path, names: str) -> bool:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"from barque import {names}"], cwd=tmp, capture_output=True, text=True)
    return done.returncode == 0


@check
def check_batches_helpers(tmp: Path, status: str) -> None:
    assert importable(tmp, "batches, batches_by") is (status != "unsupported")


@check
def check_failed_marker(tmp: Path, status: str) -> None:
    assert importable(tmp, "Failed") is (status != "unsupported")


@check
def check_parallel(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", """
from barque import asset, parallel_map

def square(x: int) -> int:
    return x * x

@asset()
def squares() -> list:
    return parallel_map(square, [1, 2, 3])
""")
    assert ok(barque("get", "squares", "pipeline.py", cwd=tmp)).json["final_output"] == [1, 4, 9]


@check
def check_batch_flag(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", """
from barca import asset, partitions

@asset(partitions={"k": partitions(["a", "b", "c"])}, batch=2)
def scored(k: list) -> dict:
    with open("calls.txt", "a") as f:
        f.write(",".join(k) + "\\n")
    return {key: 1 for key in k}

@asset()
def plain() -> int:
    return 1
""")
    ok(barque("get", "scored", "pipeline.py", "--batch", "scored=all", cwd=tmp))
    assert (tmp / "calls.txt").read_text().split() == ["a,b,c"]
    assert barque("get", "pipeline.py", "--batch", "plain=2", cwd=tmp).code == 2


@check
def check_parallel_weight(tmp: Path, status: str) -> None:
    # Each branch notes when it ran; two branches overlap only if both fit in the 4 slots at once.
    source = """
import time
from barque import asset, parallel_map

def span(x: int) -> list:
    start = time.monotonic()
    time.sleep(0.4)
    return [start, time.monotonic()]

@asset(weight=WEIGHT)
def spans() -> list:
    return parallel_map(span, [1, 2])
"""
    overlap = {}
    for weight in (2, 3):
        write(tmp, f"w{weight}.py", source.replace("WEIGHT", str(weight)))
        (a0, a1), (b0, b1) = ok(barque("get", "spans", f"w{weight}.py", cwd=tmp, env={"BARQUE_PARALLEL_SLOTS": "4"})).json["final_output"]
        overlap[weight] = a0 < b1 and b0 < a1
    assert overlap == {2: True, 3: False}


@check
def check_group_and_unsafe(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'from barque import asset, group, unsafe\n\n@unsafe\n@asset()\ndef a() -> int:\n    return 1\n\nsales = group("Sales", members=[a], output=a)\n')
    assert ok(barque("get", "a", "pipeline.py", cwd=tmp)).json["final_output"] == 1


@check
def check_async_steps(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barque import asset\n\n@asset()\nasync def a() -> int:\n    return 1\n")
    result = barque("get", "a", "pipeline.py", cwd=tmp)
    if status == "same":  # barca 0.33 fails it too: a coroutine cannot be stored
        assert result.code == 1 and "coroutine" in result.stderr
    else:
        assert ok(result).json["final_output"] == 1


@check
def check_sensors(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barque import sensor\n\n@sensor()\ndef feed() -> tuple:\n    return (True, 5)\n")
    ok(barque("get", "feed", "pipeline.py", cwd=tmp))
    assert steps(ok(barque("get", "feed", "pipeline.py", cwd=tmp))) == {"pipeline.py:feed": "ran"}


@check
def check_tasks(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert "pipeline.py:notify" not in steps(ok(barque("get", "pipeline.py", cwd=tmp)))
    assert steps(ok(barque("run", "notify", "pipeline.py", cwd=tmp)))["pipeline.py:notify"] == "ran"
    refused = barque("get", "notify", "pipeline.py", cwd=tmp)
    assert refused.code == 2 and "run" in envelope(refused)["remediation"]


# -- partitions -----------------------------------------------------------------------------------

PARTS = """
from barque import asset, collect, partitions, partitions_from

@asset()
def regions() -> dict:
    return {"amer": 1, "emea": 2}

@asset(partitions={"region": partitions_from(regions)})
def sales(region: str, regions: int) -> int:
    return regions * 10

@asset(inputs={"all": collect(sales)})
def report(all: list) -> int:
    return sum(all)
"""


@check
def check_partitions_and_collect(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", PARTS)
    assert ok(barque("get", "report", "pipeline.py", cwd=tmp)).json["final_output"] == 30


@check
def check_dict_value_reruns_one_key(tmp: Path, status: str) -> None:
    path = write(tmp, "pipeline.py", PARTS)
    ok(barque("get", "report", "pipeline.py", cwd=tmp))
    path.write_text(path.read_text().replace('"emea": 2', '"emea": 3'))
    ran = steps(ok(barque("get", "report", "pipeline.py", cwd=tmp)))
    assert ran["pipeline.py:sales[region=amer]"] == "cached" and ran["pipeline.py:sales[region=emea]"] == "ran"


@check
def check_partitioned_input_without_collect(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", """
from barque import asset, partitions

@asset(partitions={"k": partitions(["a", "b"])})
def per(k: str) -> str:
    return k

@asset(inputs={"p": per})
def upper(p: str) -> str:
    return p.upper()
""")
    assert ok(barque("get", "upper", "pipeline.py", cwd=tmp)).json["final_output"] == {"k=a": "A", "k=b": "B"}


@check
def check_partition_selection(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", PARTS)
    ran = steps(ok(barque("get", "sales", "pipeline.py", "--partition", "region=emea", cwd=tmp)))
    assert "pipeline.py:sales[region=emea]" in ran and "pipeline.py:sales[region=amer]" not in ran


@check
def check_steps_per_key(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", PARTS)
    ids = set(steps(ok(barque("get", "report", "pipeline.py", cwd=tmp))))
    assert {"pipeline.py:sales[region=amer]", "pipeline.py:sales[region=emea]"} <= ids


# -- caching --------------------------------------------------------------------------------------


@check
def check_code_and_helpers_in_key(tmp: Path, status: str) -> None:
    write(tmp, "helpers.py", "def scale(x: int) -> int:\n    return x * 2\n")
    write(tmp, "pipeline.py", "from barque import asset\nfrom helpers import scale\n\n@asset()\ndef a() -> int:\n    return scale(1)\n")
    ok(barque("get", "a", "pipeline.py", cwd=tmp))
    (tmp / "helpers.py").write_text("def scale(x: int) -> int:\n    return x * 3\n")
    assert ok(barque("get", "a", "pipeline.py", cwd=tmp)).json["final_output"] == 3


@check
def check_comment_edits(tmp: Path, status: str) -> None:
    path = write(tmp, "pipeline.py", "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    ok(barque("get", "a", "pipeline.py", cwd=tmp))
    path.write_text(path.read_text().replace("return 1", "return 1  # one"))
    assert steps(ok(barque("get", "a", "pipeline.py", cwd=tmp))) == {"pipeline.py:a": "cached"}


@check
def check_early_cutoff(tmp: Path, status: str) -> None:
    path = write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    path.write_text(path.read_text().replace("return [1, 2, 3]", "return [1, 2] + [3]"))
    ran = steps(ok(barque("get", "total", "pipeline.py", cwd=tmp)))
    assert ran == {"pipeline.py:numbers": "ran", "pipeline.py:total": "cached"}


@check
def check_refresh(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    cascade = steps(ok(barque("get", "total", "pipeline.py", "--refresh", "numbers", cwd=tmp)))
    assert cascade == {"pipeline.py:numbers": "ran", "pipeline.py:total": "ran"}
    alone = steps(ok(barque("get", "total", "pipeline.py", "--refresh", "numbers", "--no-cascade", cwd=tmp)))
    assert alone == {"pipeline.py:numbers": "ran", "pipeline.py:total": "cached"}
    assert set(steps(ok(barque("get", "total", "pipeline.py", "--refresh-all", cwd=tmp))).values()) == {"ran"}


@check
def check_dry_run(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    doc = ok(barque("get", "total", "pipeline.py", "--dry-run", cwd=tmp)).json
    assert doc["dry_run"] is True
    assert {s["step"]: (s["action"], s["reason"]) for s in doc["steps"]}["pipeline.py:numbers"] == ("run", "never materialized")
    assert not (tmp / ".barque" / "history.db").exists()


@check
def check_artifact_missing(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    for blob in (tmp / ".barque" / "blobs").rglob("*"):
        if blob.is_file():
            blob.unlink()
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["final_output"] == {"total": 6}


@check
def check_byte_change_warning(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "import random\nfrom barque import asset\n\n@asset()\ndef a() -> float:\n    return random.random()\n")
    ok(barque("get", "a", "pipeline.py", cwd=tmp))
    warned = "different bytes" in ok(barque("get", "a", "pipeline.py", "--refresh", "a", cwd=tmp)).stderr
    assert warned is (status != "unsupported")


@check
def check_gc(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    doc = json.loads(ok(barque("gc", "pipeline.py", "--dry-run", "--max-size", "1", cwd=tmp)).stdout)
    assert doc["dry_run"] is True
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["steps_cached"] == 2


@check
def check_barca_toml_ignored(tmp: Path, status: str) -> None:
    write(tmp, "barca.toml", "[cache]\nmax_size = \"1\"\n[execution]\npool_size = 1\n")
    write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["steps_cached"] == 2  # nothing evicted


@check
def check_environments(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert barque("get", "total", "pipeline.py", "--env", "prod", cwd=tmp).code == 2


# -- types and sinks ------------------------------------------------------------------------------


@check
def check_format_by_value(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barque import asset\n\nclass Box:\n    pass\n\n@asset()\ndef box() -> object:\n    return Box()\n\n@asset()\ndef plain() -> dict:\n    return {'a': 1}\n")
    doc = ok(barque("get", "box,plain", "pipeline.py", cwd=tmp)).json
    assert doc["targets"]["plain"]["final_output"] == {"a": 1}
    assert doc["targets"]["box"]["final_output"]["_type"].endswith("Box")


@check
def check_csv_serializer(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "import pandas as pd\nfrom barque import asset\n\n@asset(serializer=\"csv\")\ndef t() -> pd.DataFrame:\n    return pd.DataFrame({'a': [1, 2]})\n")
    ok(barque("get", "t", "pipeline.py", cwd=tmp))


@check
def check_annotation_readers(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", """
import pandas as pd
import pyarrow
from barque import asset

@asset()
def t() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2]})

@asset(inputs={"rows": t})
def as_arrow(rows: pyarrow.Table) -> str:
    return type(rows).__name__

@asset(inputs={"rows": t})
def as_rows(rows: list[dict]) -> str:
    return type(rows).__name__
""")
    # barca 0.33 reads `pyarrow.Table` as an Arrow table, and gives `list[dict]` a DataFrame like any other annotation.
    got = ok(barque("get", "as_arrow,as_rows", "pipeline.py", cwd=tmp)).json["targets"]
    assert (got["as_arrow"]["final_output"] == "Table") is (status != "unsupported")
    assert got["as_rows"]["final_output"] == "DataFrame"


@check
def check_sink_by_extension(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'from barque import asset, sink\n\n@asset()\n@sink("out/value.pkl")\ndef v() -> dict:\n    return {"a": 1}\n')
    ok(barque("get", "v", "pipeline.py", cwd=tmp))
    assert pickle.loads((tmp / "out" / "value.pkl").read_bytes()) == {"a": 1}


@check
def check_sink_per_key_names(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'from barque import asset, partitions, sink\n\n@asset(partitions={"region": partitions(["amer"])})\n@sink("out/sales.json")\ndef sales(region: str) -> int:\n    return 1\n')
    ok(barque("get", "sales", "pipeline.py", cwd=tmp))
    assert (tmp / "out" / "sales_region_amer.json").exists()


@check
def check_sink_failure(tmp: Path, status: str) -> None:
    write(tmp, "blocker", "a file where the sink wants a folder")
    write(tmp, "pipeline.py", 'from barque import asset, sink\n\n@asset()\n@sink("blocker/v.json")\ndef v() -> int:\n    return 1\n')
    assert barque("get", "v", "pipeline.py", cwd=tmp).code == 1


@check
def check_dataset_sink(tmp: Path, status: str) -> None:
    # A second column: a table of partition columns only has nothing to write, which barca refuses too.
    source = 'import pandas as pd\nfrom barque import asset, sink\n\n@asset()\n@sink("out/ds/", partition_by=["a"])\ndef t() -> pd.DataFrame:\n    return pd.DataFrame({"a": [1, 2], "b": [3, 4]})\n'
    by_status(status, tmp, source, "partition_by")
    if status != "unsupported":
        assert sorted(p.relative_to(tmp / "out/ds").as_posix() for p in (tmp / "out/ds").rglob("*.parquet")) == ["a=1/part-0.parquet", "a=2/part-0.parquet"]


@check
def check_dataset_sink_removed_key(tmp: Path, status: str) -> None:
    source = ('import pandas as pd\nfrom barca import asset, partitions, sink\n\n@asset(partitions={"k": partitions(["a", "b"])})\n'
              '@sink("out/ds/")\ndef t(k: str) -> pd.DataFrame:\n    return pd.DataFrame({"v": [1]})\n')
    write(tmp, "pipeline.py", source)
    ok(barque("get", "pipeline.py", cwd=tmp))
    write(tmp, "pipeline.py", source.replace('["a", "b"]', '["a"]'))
    assert "deleted 1 key its asset no longer has" in ok(barque("get", "pipeline.py", cwd=tmp)).stderr
    assert sorted(p.name for p in (tmp / "out/ds").iterdir()) == ["_barca_sink.json", "k=a"]


# -- inspection and the CLI -----------------------------------------------------------------------


@check
def check_status(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    doc = ok(barque("status", "pipeline.py", cwd=tmp)).json
    assert {n["name"]: n["cache"]["state"] for n in doc["nodes"]} == {"numbers": "cached", "total": "cached", "notify": "always_runs"}
    assert set(doc["summary"]) == {"cached", "unsynced", "stale", "never_run", "partial", "unknown", "always_runs"}


@check
def check_status_shape(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    shapes = {n["name"]: n["shape"] for n in ok(barque("status", "pipeline.py", cwd=tmp)).json["nodes"]}
    assert shapes["numbers"] == {"type": "list", "rows": 3} and shapes["total"] == {"type": "dict", "keys": ["total"]}


@check
def check_status_filters(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN + "\n@asset()\ndef broken() -> int:\n    return 1 // 0\n")
    barque("get", "total", "pipeline.py", cwd=tmp)
    barque("get", "broken", "pipeline.py", cwd=tmp)
    problems = ok(barque("status", "pipeline.py", "--problems", "--fields", "id,cache", cwd=tmp)).json
    assert [n["id"] for n in problems["nodes"]] == ["pipeline.py:broken"] and problems["filter"] == {"problems": True}
    assert problems["nodes"][0] == {"id": "pipeline.py:broken", "cache": problems["nodes"][0]["cache"]}
    assert problems["summary"]["cached"] == 2 and problems["total"] == 1
    cached = ok(barque("status", "pipeline.py", "--state", "cached", "--limit", "1", cwd=tmp)).json
    assert [n["id"] for n in cached["nodes"]] == ["pipeline.py:numbers"] and cached["truncated"] is True and "--all" in cached["hint"]
    assert barque("status", "pipeline.py", "--state", "failed", cwd=tmp).code == 2
    assert barque("status", "pipeline.py", "--fields", "nope", cwd=tmp).code == 2
    table = ok(barque("status", "pipeline.py", "--problems", "--pretty", cwd=tmp)).stdout
    assert "1 of 4 nodes match --problems; the counts below are for every node" in table


@check
def check_status_sample(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    barque("get", "total", "pipeline.py", cwd=tmp)
    doc = ok(barque("status", "pipeline.py", "--sample", "2", "--fields", "name,shape", cwd=tmp)).json
    assert {n["name"]: (n["shape"] or {}).get("sample") for n in doc["nodes"]} == {"numbers": [1, 2], "total": {"total": 6}, "notify": None}


@check
def check_logs(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    run_id = ok(barque("run", "notify", "pipeline.py", cwd=tmp)).json["run_id"]
    assert "notify {'total': 6}" in ok(barque("logs", run_id, "notify", cwd=tmp)).stdout


@check
def check_history(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    run_id = ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["run_id"]
    assert json.loads(ok(barque("history", cwd=tmp)).stdout)[0]["run_id"] == run_id
    assert json.loads(ok(barque("history", run_id, cwd=tmp)).stdout)["run_id"] == run_id


@check
def check_stats(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    ok(barque("get", "total", "pipeline.py", cwd=tmp))
    assert json.loads(ok(barque("stats", "total", "pipeline.py", cwd=tmp)).stdout)[0]["steps"] == 1


@check
def check_doctor(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert json.loads(ok(barque("doctor", "pipeline.py", cwd=tmp)).stdout)["ok"] is True
    assert not (tmp / "ran.txt").exists()


@check
def check_list(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    rows = json.loads(ok(barque("list", "pipeline.py", cwd=tmp)).stdout)
    assert [r["id"] for r in rows] == ["pipeline.py:notify", "pipeline.py:numbers", "pipeline.py:total"]


@check
def check_plan(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert "phases" in json.loads(ok(barque("plan", "pipeline.py", cwd=tmp)).stdout)


@check
def check_unsupported_commands(tmp: Path, status: str) -> None:
    for command in ("sql", "serve", "queue", "state", "docs"):
        assert barque(command, cwd=tmp).code == 2, command


@check
def check_argument_order(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["final_output"] == {"total": 6}


@check
def check_files_first_order(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert ok(barque("run", "pipeline.py", "total", cwd=tmp)).json["final_output"] == {"total": 6}


@check
def check_final_output_value(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barque import asset\n\nclass Box:\n    pass\n\n@asset()\ndef box() -> object:\n    return Box()\n")
    shown = ok(barque("get", "box", "pipeline.py", cwd=tmp)).json["final_output"]
    assert set(shown) == {"_artifact", "_type", "_repr"}


@check
def check_output_rule(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["status"] == "succeeded"
    assert ok(barque("get", "total", "pipeline.py", "--pretty", cwd=tmp)).stdout.startswith("run ")
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp, env={"BARCA_OUTPUT": "pretty"})).stdout.startswith("run ")


@check
def check_output_value(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert json.loads(ok(barque("get", "total", "pipeline.py", "-o", "value", cwd=tmp)).stdout) == {"total": 6}
    assert barque("get", "total", "pipeline.py", "-o", "path", cwd=tmp).code == 2


@check
def check_error_envelope(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    env = envelope(barque("get", "nope", "pipeline.py", cwd=tmp))
    assert set(env) == {"code", "error", "kind", "remediation"} and (env["code"], env["kind"]) == (2, "usage")


@check
def check_step_failed_envelope(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "from barque import asset\n\n@asset()\ndef bad() -> int:\n    return 1 // 0\n")
    result = barque("get", "bad", "pipeline.py", cwd=tmp)
    assert result.code == 1 and result.json["status"] == "failed"
    assert {k: envelope(result)[k] for k in ("kind", "node")} == {"kind": "step_failed", "node": "pipeline.py:bad"}


@check
def check_sigterm_exit_code(tmp: Path, status: str) -> None:
    from barque_cli.cmd_local import exit_code

    assert exit_code({"status": "cancelled", "cancelled_by": "SIGINT"}) == 130
    assert exit_code({"status": "cancelled", "cancelled_by": "SIGTERM"}) == 143


@check
def check_agent_and_fields_flags(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    for flag in ("--agent", "--fields=id", "--limit=1", "--all"):
        assert barque("get", "total", "pipeline.py", flag, cwd=tmp).code == 2, flag


@check
def check_version(tmp: Path, status: str) -> None:
    assert ok(barque("version", cwd=tmp)).stdout.strip() == ok(barque("--version", cwd=tmp)).stdout.strip()


@check
def check_discovery(tmp: Path, status: str) -> None:
    write(tmp, "jobs/a.py", "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    write(tmp, "reports/b.py", "from barque import asset\n\n@asset()\ndef b() -> int:\n    return 2\n")
    write(tmp, "tests/test_x.py", "from barque import asset\n\n@asset()\ndef t() -> int:\n    return 3\n")
    ids = {r["id"] for r in json.loads(ok(barque("list", "jobs/", "reports/", cwd=tmp)).stdout)}
    assert ids == {"jobs/a.py:a", "reports/b.py:b"}
    assert {r["id"] for r in json.loads(ok(barque("list", ".", cwd=tmp)).stdout)} == ids


@check
def check_node_ids(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", 'from barque import asset\n\n@asset(name="orders_clean")\ndef a() -> int:\n    return 1\n\n@asset()\ndef b() -> int:\n    return 2\n')
    ids = {r["id"] for r in json.loads(ok(barque("list", "pipeline.py", cwd=tmp)).stdout)}
    assert ids == {"orders_clean", "pipeline.py:b"}


@check
def check_python_get(tmp: Path, status: str) -> None:
    import subprocess
    import sys

    write(tmp, "pipeline.py", CHAIN)
    code = "import barque; print(barque.get('total', 'pipeline.py'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "{'total': 6}"


@check
def check_final_output_rule(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert ok(barque("get", "pipeline.py", cwd=tmp)).json["final_output"] == {"total": 6}
    # barca 0.33, BARCA_POOL_SIZE=2: zeta, alpha, mid independent -> alpha, the last asset of its plan
    three = "".join(f"\n@asset()\ndef {n}() -> str:\n    return {n!r}\n" for n in ("zeta", "alpha", "mid"))
    write(tmp, "three.py", "from barca import asset\n" + three)
    assert ok(barque("get", "three.py", "--workers", "2", cwd=tmp)).json["final_output"] == "alpha"


@check
def check_several_targets(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    doc = ok(barque("get", "numbers,total", "pipeline.py", cwd=tmp)).json
    assert doc["targets"]["total"] == {"status": "succeeded", "final_output": {"total": 6}}


@check
def check_status_word(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json["status"] == "succeeded"


@check
def check_closed_stdout(tmp: Path, status: str) -> None:
    import subprocess
    import sys

    write(tmp, "pipeline.py", CHAIN)
    script = f"{sys.executable} -m barque_cli.main list pipeline.py | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", script], cwd=tmp, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0" and "Traceback" not in done.stderr


@check
def check_project_root(tmp: Path, status: str) -> None:
    write(tmp, "barca.toml", "")
    write(tmp, "pipeline.py", CHAIN)
    (tmp / "sub").mkdir()
    assert ok(barque("get", "total", "../pipeline.py", cwd=tmp / "sub")).json["final_output"] == {"total": 6}
    assert (tmp / ".barque").is_dir() and not (tmp / "sub" / ".barque").exists()
    assert barque("get", "total", cwd=tmp / "sub").code == 2  # no files: the working folder, which has none


@check
def check_warnings_array(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", CHAIN)
    assert ok(barque("get", "total", "pipeline.py", cwd=tmp)).json.get("warnings") == ([] if status != "unsupported" else None)
    write(tmp, "pipeline.py", 'from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n\n@asset(inputs={"rows": a})\ndef b(rows: int) -> int:\n    return 2\n')
    for args in (("get", "b"), ("run", "b"), ("get", "b", "--dry-run"), ("plan", "b")):
        doc = ok(barque(*args[:2], "pipeline.py", *args[2:], cwd=tmp)).json
        assert [(w["kind"], w["node"], w["param"]) for w in doc["warnings"]] == [("unused_input", "pipeline.py:b", "rows")], args


@check
def check_concurrent_runs(tmp: Path, status: str) -> None:
    import subprocess

    from ..runtime.clirun import BARQUE

    write(tmp, "pipeline.py", CHAIN)
    procs = [subprocess.Popen([*BARQUE, "get", "total", "pipeline.py"], cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [json.loads(out)["final_output"] for out, _ in outs] == [{"total": 6}, {"total": 6}]


@check
def check_worker_death(tmp: Path, status: str) -> None:
    write(tmp, "pipeline.py", "import os\nfrom barque import asset\n\n@asset()\ndef a() -> int:\n    os._exit(3)\n")
    result = barque("get", "a", "pipeline.py", cwd=tmp)
    assert result.code == 1 and "exited with code 3" in envelope(result)["error"]
