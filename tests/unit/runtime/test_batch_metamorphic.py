"""Metamorphic for ``batch=``: after any change of grouping, keys or workers, a cached run
returns what a fresh ``--no-cache`` run returns, key by key.

hypothesis draws a sequence of configurations (``batch=`` value, the partition keys, the
worker count); each is written over the same project and run twice through ``barque.get``: on
the store kept since the first configuration, and with ``no_cache`` on a fresh store.

Real: the local runner (forked workers) and local-folder stores in a temporary folder.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import barque

SOURCE = """
from barque import asset, collect, partitions, partitions_from


@asset(partitions={{"r": partitions({keys!r})}})
def cleaned(r: str) -> dict:
    return {{"n": len(r) * 3}}


@asset(partitions={{"r": partitions_from(cleaned)}}, batch={batch})
def scored(r: list, cleaned: dict) -> dict:
    return {{k: {{"k": k, "score": cleaned[k]["n"]}} for k in r}}


@asset(inputs={{"all": collect(scored)}})
def total(all: list) -> int:
    return sum(x["score"] for x in all)
"""

CONFIGS = st.tuples(
    st.sampled_from(["1", "2", "3", '"all"']),
    st.lists(st.sampled_from(["a", "bb", "ccc", "dddd", "e"]), min_size=1, max_size=5, unique=True),
    st.integers(1, 2),
)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CONFIGS, min_size=2, max_size=3))
def test_a_cached_batched_run_returns_what_a_fresh_run_returns(configs: list[tuple[str, list[str], int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for batch, keys, workers in configs:
            (root / "pipeline.py").write_text(textwrap.dedent(SOURCE.format(keys=keys, batch=batch)))
            files = str(root / "pipeline.py")
            cached = barque.get("scored,total", files, workers=workers, store=str(root / "kept"))
            fresh = barque.get("scored,total", files, workers=workers, store=str(root / "fresh"), no_cache=True)
            assert cached == fresh
