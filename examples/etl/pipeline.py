"""An ETL pipeline: partitioned extract, per-key transform, a fan-in, a sink and a task.

    barque run examples/etl/pipeline.py            # assets and the sink
    barque run examples/etl/pipeline.py publish    # also the publish task
"""

from barque import asset, collect, partitions, partitions_from, sink, task

REGIONS = ["amer", "apac", "emea"]


def _round(x: float) -> float:
    return round(x, 2)


@asset(partitions={"region": partitions(REGIONS)})
def orders(region: str) -> list[dict]:
    base = {"amer": 120.0, "apac": 80.0, "emea": 100.0}[region]
    return [{"region": region, "order": i, "amount": base + i * 10} for i in range(5)]


@asset(partitions={"region": partitions_from(orders)})
def revenue(region: str, orders: list[dict]) -> dict:
    return {"region": region, "revenue": _round(sum(o["amount"] for o in orders))}


@asset(inputs={"all_revenue": collect(revenue)})
@sink("out/revenue_report.json", serializer="json")
def report(all_revenue: list[dict]) -> dict:
    total = sum(r["revenue"] for r in all_revenue)
    return {"total": _round(total), "by_region": {r["region"]: r["revenue"] for r in all_revenue}}


@task(inputs={"report": report})
def publish(report: dict) -> str:
    print(f"publishing report: total revenue {report['total']}")
    return "published"
