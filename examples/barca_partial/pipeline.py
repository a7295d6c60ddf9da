"""A barca file that barque runs unchanged: a Manual baseline, a batched asset that fans out
with parallel_map and marks one key Failed, and a pickle sink per key.

    barque get pipeline.py      # or: barca get pipeline.py
    # exit 1: scored[region=mea] failed ("mea has no orders"); amer, apac and emea are
    # computed, cached and written to out/scored_region_<key>.pkl; report is skipped.
"""

from barca import Failed, Manual, asset, collect, parallel_map, partitions, partitions_from, sink, task


@asset(freshness=Manual)
def baseline() -> dict:
    # Recomputed only when asked: barque get baseline pipeline.py --refresh baseline
    return {"threshold": 20}


ORDERS = {"amer": [1, 2, 3], "apac": [4, 5], "emea": [6], "mea": []}


@asset(partitions={"region": partitions(["amer", "apac", "emea", "mea"])})
def orders(region: str) -> list:
    return ORDERS[region]


@task()
def scale(amount: int) -> int:
    return amount * 10


@asset(partitions={"region": partitions_from(orders)}, inputs={"baseline": baseline}, batch="all")
@sink("out/scored.pkl")
def scored(region: list, orders: dict, baseline: dict) -> dict:
    out = {}
    for key in region:
        if not orders[key]:
            out[key] = Failed(f"{key} has no orders")  # fails this key alone; the others are cached
            continue
        scaled = parallel_map(scale, orders[key])
        out[key] = {"region": key, "total": sum(scaled), "above": [x for x in scaled if x > baseline["threshold"]]}
    return out


@asset(inputs={"scored": collect(scored)})
def report(scored: list) -> dict:
    return {"regions": len(scored), "total": sum(s["total"] for s in scored)}
