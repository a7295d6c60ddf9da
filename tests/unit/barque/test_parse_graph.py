"""The static parser: which functions become nodes, their ids, kinds, options and inputs.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.errors import PipelineDefinitionError
from barque.model import Freshness, Graph, InputSpec, Node, SinkSpec
from barque.parsing import parse_project

from .fixtures.parse import parse, write


def test_a_single_file_gives_nodes_with_file_function_ids_module_line_and_params(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset


        @asset()
        def raw() -> dict:
            return {"x": 1}


        @asset(inputs={"data": raw})
        def clean(data: dict, scale: int = 2) -> dict:
            return {"x": data["x"] * scale}
        """})
    graph = parse(tmp_path)
    assert sorted(graph.nodes) == ["p.py:clean", "p.py:raw"]
    clean = graph.nodes["p.py:clean"]
    assert (clean.kind, clean.file, clean.module, clean.function, clean.line) == ("asset", "p.py", "p", "clean", 10)
    assert clean.params == ("data", "scale")
    assert clean.inputs == (InputSpec("data", "p.py:raw"),)
    assert graph.root == str(tmp_path.resolve())


def test_an_explicit_name_is_the_node_id_and_inputs_point_at_it(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset

        @asset(name="source")
        def raw() -> int:
            return 1

        @asset(inputs={"x": raw})
        def twice(x: int) -> int:
            return 2 * x
        """})
    graph = parse(tmp_path)
    assert sorted(graph.nodes) == ["p.py:twice", "source"]
    assert graph.nodes["p.py:twice"].inputs == (InputSpec("x", "source"),)


def test_barca_imports_make_nodes_like_barque_imports(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barca import asset, task

        @asset()
        def raw() -> int:
            return 1

        @task(inputs={"x": raw})
        def report(x: int) -> None:
            print(x)
        """})
    graph = parse(tmp_path)
    assert {n.id: n.kind for n in graph.nodes.values()} == {"p.py:raw": "asset", "p.py:report": "task"}


def test_an_aliased_decorator_import_is_recognised(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barca import asset as a, collect as gather

        @a(partitions={})
        def raw() -> int:
            return 1

        @a(inputs={"x": gather(raw)})
        def total(x) -> int:
            return 1
        """})
    graph = parse(tmp_path)
    assert graph.nodes["p.py:total"].inputs == (InputSpec("x", "p.py:raw", collect=True),)


def test_module_aliases_reach_decorators_and_helpers(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        import barque as b
        import barca

        @b.asset(partitions={"key": b.partitions(["a", "b"])})
        def rows(key):
            return key

        @barca.asset(inputs={"all": barca.collect(rows)}, freshness=b.Manual)
        def total(all):
            return len(all)
        """})
    graph = parse(tmp_path)
    assert graph.nodes["p.py:rows"].partitions[0].values == ("a", "b")
    assert graph.nodes["p.py:total"].freshness == Freshness("manual")


def test_the_barque_decorators_module_is_recognised(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque.decorators import asset
        import barque.decorators as d

        @asset()
        def one() -> int:
            return 1

        @d.task()
        def two() -> int:
            return 2
        """})
    assert {n.kind for n in parse(tmp_path).nodes.values()} == {"asset", "task"}


def test_bare_decorators_without_parentheses_make_nodes(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, sensor

        @asset
        def raw() -> int:
            return 1

        @sensor
        def poll() -> tuple:
            return (True, 1)
        """})
    graph = parse(tmp_path)
    assert graph.nodes["p.py:raw"].kind == "asset"
    assert graph.nodes["p.py:poll"].kind == "sensor"


def test_a_foreign_task_decorator_is_not_a_node(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset
        from celery import task

        @task(bind=True)
        def send(self):
            return 1

        @asset()
        def raw() -> int:
            return 1
        """})
    assert list(parse(tmp_path).nodes) == ["p.py:raw"]


def test_a_decorator_name_reassigned_after_the_import_is_not_barques(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset

        asset = lambda **kw: (lambda f: f)

        @asset(anything=1)
        def raw() -> int:
            return 1
        """})
    assert parse(tmp_path).nodes == {}


def test_kinds_and_default_freshness_are_always_for_assets_and_tasks_and_manual_for_sensors(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, sensor, task

        @sensor()
        def poll() -> tuple:
            return (True, 1)

        @asset()
        def raw() -> int:
            return 1

        @task()
        def notify() -> None:
            pass
        """})
    graph = parse(tmp_path)
    assert {i: (n.kind, n.freshness.kind) for i, n in graph.nodes.items()} == {
        "p.py:poll": ("sensor", "manual"),
        "p.py:raw": ("asset", "always"),
        "p.py:notify": ("task", "always"),
    }


def test_freshness_reads_always_manual_and_schedule_with_its_cron(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import Always, Manual, Schedule, asset, sensor

        @asset(freshness=Manual)
        def pinned() -> int:
            return 0

        @asset(freshness=Schedule("*/15 0-6,22 1 jan-mar mon-fri", max_failures=3))
        def daily() -> int:
            return 1

        @sensor(freshness=Always)
        def poll() -> tuple:
            return (True, 1)
        """})
    graph = parse(tmp_path)
    assert graph.nodes["p.py:pinned"].freshness == Freshness("manual")
    assert graph.nodes["p.py:daily"].freshness == Freshness("schedule", "*/15 0-6,22 1 jan-mar mon-fri", max_failures=3)
    assert graph.nodes["p.py:poll"].freshness == Freshness("always")


def test_schedule_options_are_kept_as_written_and_travel_in_the_graph(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import Schedule, asset

        @asset(freshness=Schedule("0 5 * * *", timeout_seconds=90, batch="all"))
        def daily() -> int:
            return 1
        """})
    graph = parse(tmp_path)
    fresh = graph.nodes["p.py:daily"].freshness
    assert fresh == Freshness("schedule", "0 5 * * *", max_failures=None, timeout_seconds=90.0, batch=("all",))
    assert Graph.from_dict(graph.to_dict()).nodes["p.py:daily"].freshness == fresh


def _scheduled_with_batch(tmp_path: Path, written: str) -> Graph:
    write(tmp_path, {"p.py": f"""
        from barque import Schedule, asset

        @asset(freshness=Schedule("0 5 * * *", batch={written}))
        def daily() -> int:
            return 1
        """})
    return parse(tmp_path)


@pytest.mark.parametrize("written, values", [
    ('"all"', ("all",)),
    ('"none"', ("none",)),
    ("20", ("20",)),
    ('"scored=20"', ("scored=20",)),
    ('{"scored": 20, "orders": "all"}', ("scored=20", "orders=all")),
    ('["all", "scored=none"]', ("all", "scored=none")),
])
def test_schedule_batch_is_read_as_the_batch_flag_values_of_each_tick(tmp_path: Path, written: str, values: tuple[str, ...]) -> None:
    assert _scheduled_with_batch(tmp_path, written).nodes["p.py:daily"].freshness.batch == values


@pytest.mark.parametrize("written, message", [
    ("0", "'0' is not none, all or a whole number above 0"),
    ('"some"', "'some' is not none, all or a whole number above 0"),
    ("True", "Schedule(batch=) cannot be True"),
    ("[]", "Schedule(batch=) cannot be []"),
    ('{"scored": 1.5}', "Schedule(batch=) cannot be"),
    ("size", "Schedule(batch=)"),
])
def test_a_schedule_batch_of_no_form_barca_takes_is_refused_where_it_is_written(tmp_path: Path, written: str, message: str) -> None:
    with pytest.raises(PipelineDefinitionError) as err:
        _scheduled_with_batch(tmp_path, written)
    assert message in err.value.message and (err.value.where or "").startswith("p.py:3:")


@pytest.mark.parametrize("written, message", [
    ("max_failures=0", "at least 1"),
    ("max_failures=True", "at least 1"),
    ("max_failures=n", "integer literal"),
    ("timeout_seconds=0", "more than 0"),
    ("timeout_seconds=-1", "at least 0"),
    ("retries=2", "keyword argument `retries`"),
])
def test_bad_schedule_options_are_refused_when_the_file_is_read(tmp_path: Path, written: str, message: str) -> None:
    write(tmp_path, {"p.py": f"""
        from barque import Schedule, asset
        n = 3

        @asset(freshness=Schedule("0 5 * * *", {written}))
        def daily() -> int:
            return 1
        """})
    with pytest.raises(PipelineDefinitionError, match=message):
        parse(tmp_path)


def test_options_are_read_from_their_literals(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset

        @asset(
            serializer="pickle",
            timeout_seconds=600,
            retries=3,
            retry_backoff=2.5,
            description="Rows from the source",
            tags=["daily", "finance"],
            env=["SOURCE_CSV", "REGION"],
        )
        def raw() -> int:
            return 1
        """})
    node = parse(tmp_path).nodes["p.py:raw"]
    assert (node.serializer, node.timeout_seconds, node.retries, node.retry_backoff) == ("pickle", 600.0, 3, 2.5)
    assert node.description == "Rows from the source"
    assert node.tags == ("daily", "finance")
    assert node.env == ("SOURCE_CSV", "REGION")


def test_options_left_out_take_the_model_defaults(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset

        @asset()
        def raw() -> int:
            return 1
        """})
    node = parse(tmp_path).nodes["p.py:raw"]
    assert (node.serializer, node.timeout_seconds, node.retries, node.retry_backoff) == (None, None, 1, 0.0)
    assert (node.env, node.tags, node.sinks, node.description) == ((), (), (), None)


def test_sinks_stacked_with_an_asset_are_recorded_in_either_order(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, sink

        @sink("out/report.json", serializer="json")
        @asset()
        @sink("s3://bucket/report.pkl")
        def report() -> dict:
            return {}
        """})
    node = parse(tmp_path).nodes["p.py:report"]
    assert node.sinks == (SinkSpec("out/report.json", "json"), SinkSpec("s3://bucket/report.pkl"))


def test_async_functions_are_nodes_too(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset

        @asset()
        async def fetch() -> int:
            return 1
        """})
    assert parse(tmp_path).nodes["p.py:fetch"].kind == "asset"


def test_a_foreign_sink_decorator_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset
        from outputs import sink

        @sink("elsewhere")
        def export() -> None:
            pass

        @asset()
        def raw() -> int:
            return 1
        """})
    assert list(parse(tmp_path).nodes) == ["p.py:raw"]
