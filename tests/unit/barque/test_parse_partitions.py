"""The static parser on partitions: literal keys, expressions, ``partitions_from`` and ``collect``.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

from barque.model import InputSpec, PartitionSpec

from .fixtures.parse import parse, write


def test_a_literal_list_gives_static_keys_as_strings(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, partitions

        @asset(partitions={"region": partitions(["emea", "amer"]), "year": partitions((2024, 2025))})
        def sales(region: str, year: int) -> dict:
            return {}
        """})
    assert parse(tmp_path).nodes["p.py:sales"].partitions == (
        PartitionSpec("region", "static", values=("emea", "amer")),
        PartitionSpec("year", "static", values=("2024", "2025")),
    )


def test_a_module_constant_holding_a_literal_list_gives_static_keys(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, partitions

        REGIONS = ["emea", "amer"]

        @asset(partitions={"region": partitions(REGIONS)})
        def sales(region: str) -> dict:
            return {}
        """})
    assert parse(tmp_path).nodes["p.py:sales"].partitions[0].values == ("emea", "amer")


def test_a_constant_assigned_twice_is_left_as_an_expression(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, partitions

        REGIONS = ["emea"]
        REGIONS = REGIONS + ["amer"]

        @asset(partitions={"region": partitions(REGIONS)})
        def sales(region: str) -> dict:
            return {}
        """})
    assert parse(tmp_path).nodes["p.py:sales"].partitions == (PartitionSpec("region", "expr", expr="REGIONS"),)


def test_any_other_expression_is_kept_as_its_exact_source_text(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, partitions
        import datetime

        @asset(partitions={"day": partitions([str(datetime.date(2024, 1, d))
                                              for d in range(1, 8)])})
        def daily(day: str) -> dict:
            return {}
        """})
    spec = parse(tmp_path).nodes["p.py:daily"].partitions[0]
    assert spec.kind == "expr"
    assert spec.expr == "[str(datetime.date(2024, 1, d))\n                                      for d in range(1, 8)]"


def test_partitions_from_names_its_source_node_and_fills_the_parameter_named_after_it(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, partitions, partitions_from

        @asset(partitions={"region": partitions(["emea"])})
        def sales(region: str) -> dict:
            return {}

        @asset(partitions={"region": partitions_from(sales)})
        def margin(region: str, sales: dict) -> dict:
            return sales
        """})
    assert parse(tmp_path).nodes["p.py:margin"].partitions == (PartitionSpec("region", "from", source="p.py:sales"),)


def test_partitions_from_an_unpartitioned_source_takes_any_dimension_name(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, partitions_from, sensor

        @sensor()
        def retailers() -> tuple:
            return (True, {"r1": 1})

        @asset(partitions={"retailer": partitions_from(retailers)})
        def score(retailer: str, retailers: int) -> int:
            return retailers
        """})
    assert parse(tmp_path).nodes["p.py:score"].partitions[0].source == "p.py:retailers"


def test_collect_marks_the_input_as_every_partition_in_a_list(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, collect, partitions

        @asset(partitions={"region": partitions(["emea", "amer"])})
        def sales(region: str) -> dict:
            return {}

        @asset(inputs={"all_sales": collect(sales)})
        def summary(all_sales: list) -> int:
            return len(all_sales)
        """})
    assert parse(tmp_path).nodes["p.py:summary"].inputs == (InputSpec("all_sales", "p.py:sales", collect=True),)


def test_a_partitioned_consumer_may_read_an_unpartitioned_upstream_whole(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import asset, partitions

        @asset()
        def multiplier() -> int:
            return 2

        @asset(inputs={"m": multiplier}, partitions={"k": partitions(["a", "b"])})
        def scaled(k: str, m: int) -> int:
            return m
        """})
    node = parse(tmp_path).nodes["p.py:scaled"]
    assert node.inputs == (InputSpec("m", "p.py:multiplier"),)
    assert node.partitioned


def test_tasks_and_sensors_take_partitions_too(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        from barque import partitions, sensor, task

        @sensor(partitions={"feed": partitions(["a", "b"])})
        def poll(feed: str) -> tuple:
            return (True, feed)

        @task(partitions={"zone": partitions(["x"])})
        def check(zone: str) -> None:
            pass
        """})
    graph = parse(tmp_path)
    assert graph.nodes["p.py:poll"].partitions[0].values == ("a", "b")
    assert graph.nodes["p.py:check"].partitions[0].values == ("x",)
