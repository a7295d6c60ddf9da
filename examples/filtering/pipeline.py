"""Edge filters: an upstream's per-key items flow on only where a predicate holds.

    barque run examples/filtering/pipeline.py     # exit code 0; steps_filtered counts emea's two steps

``with_orders`` is the filter on the edge from ``orders`` to ``revenue``: for a region without
orders it returns ``Skip(...)``, so that key ends ``filtered``, its dependant ``revenue`` for
that key is ``filtered`` too (not ``skipped``: nothing failed), and ``total`` collects only the
keys that produced. A second run serves every step from cache, the filtered ones included.
"""

from barque import Skip, asset, collect, partitions


@asset(partitions={"region": partitions(["amer", "emea", "apac"])})
def orders(region: str) -> list:
    return {"amer": [120, 80], "emea": [], "apac": [45]}[region]


@asset(inputs={"orders": orders})
def with_orders(orders: list) -> list:
    if not orders:
        return Skip("no orders in this region")
    return orders


@asset(inputs={"orders": with_orders})
def revenue(orders: list) -> int:
    return sum(orders)


@asset(inputs={"per_region": collect(revenue)})
def total(per_region: list) -> int:
    return sum(per_region)
