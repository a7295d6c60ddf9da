"""Random DAGs of hand-built nodes (hypothesis), shared by the planner's and the run driver's properties."""

from __future__ import annotations

from hypothesis import strategies as st


from barque.model import BatchSpec, Graph

from .graphs import from_, graph, inp, node, static


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 14, deferred: bool = False, options: bool = False) -> Graph:
    """Up to ``max_nodes`` nodes; node i reads only nodes before it; some static-partitioned, some
    following a partitioned upstream key by key, some collecting one and, with ``deferred``, some
    partitioned by the keys an unpartitioned upstream returns (known only once it ran). With
    ``options``, some nodes weigh 2 or 3 (``weight=``) and some partitioned ones are ``batch=2``."""
    count = draw(st.integers(1, max_nodes))
    nodes = []
    partitioned: set[str] = set()
    shapes = ["plain", "static", "follow", "collect"] + (["deferred"] if deferred else [])
    for i in range(count):
        name = f"n{i}"
        ups = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        shape = draw(st.sampled_from(shapes))
        part_ups = [f"n{u}" for u in ups if f"n{u}" in partitioned]
        plain_ups = [f"n{u}" for u in ups if f"n{u}" not in partitioned]
        if shape == "static" and not part_ups:
            keys = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4, unique=True))
            nodes.append(node(name, inputs=tuple(inp(f"x{u}", f"n{u}") for u in ups), partitions=(static("k", *keys),)))
            partitioned.add(name)
        elif shape == "follow" and len(part_ups) == 1:
            source = part_ups[0]
            others = tuple(inp(f"x{u}", f"n{u}") for u in ups if f"n{u}" != source)
            nodes.append(node(name, inputs=others, partitions=(from_("k", source),), params=("k", source)))
            partitioned.add(name)
        elif shape == "deferred" and plain_ups and not part_ups:
            nodes.append(node(name, partitions=(from_("k", plain_ups[0]),)))
            partitioned.add(name)
        else:  # plain: a partitioned upstream is collected, never passed whole
            nodes.append(node(name, inputs=tuple(inp(f"x{u}", f"n{u}", collect=f"n{u}" in partitioned) for u in ups)))
        if options:
            weight = draw(st.sampled_from([1, 1, 2, 3]))
            batch = BatchSpec("size", size=2) if name in partitioned and draw(st.booleans()) else None
            nodes[-1] = nodes[-1]._replace(weight=weight, batch=batch)
    return graph(*nodes)
