"""``parse_project``: pipeline files in, a checked ``Graph`` out, parsed at most once per content.

Which files and which root are worked out every time (cheap: a few ``stat`` calls, and a look
for a barque import in each file a directory walk finds); the parse itself, the expensive part,
is served from ``barque.parsing.cache`` when nothing it read has changed. The parser's modules
(``ast`` and the rest) are imported only on a miss, so a cached run does not load them.
"""

from __future__ import annotations

import gc
import os
from typing import Sequence

from barque.errors import PipelineDefinitionError
from barque.model import Graph
from barque.parsing import cache
from barque.parsing.files import expand_paths, find_root, relative_to_root, resolve


def parse_project(
    paths: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str] | None = None, *, hashes: bool = True, warnings: bool = False,
    use_cache: bool = True,
) -> Graph:
    """Read the pipeline in ``paths`` (files or directories) into a checked ``Graph``.

    Never imports or runs the user's code. Raises ``PipelineDefinitionError`` naming the
    file, line and what to do when the pipeline is wrong (an error is never cached).

    ``hashes=False`` skips the code hashes (``code_hash`` stays empty, ``helpers`` too): they
    only feed cache keys, so ``barque plan`` without ``--cache`` does without them, and
    ``cachekeys.key_components`` refuses a node that has none. ``warnings=True`` also reads the
    function bodies for static warnings (``Graph.warnings``), only when asked since it costs
    about a quarter of a large parse's CPU; a graph cached without them is never served to a
    request for them, nor the other way round. ``use_cache=False`` parses afresh and leaves
    the parse cache alone.
    """
    # The parse allocates many small objects and makes no reference cycles; pausing the
    # cyclic collector meanwhile saves about a third of the time on large pipelines.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(paths, root, hashes, warnings, use_cache)
    finally:
        if was_enabled:
            gc.enable()


def parse_probes(
    paths: Sequence[str | os.PathLike[str]], *, hashes: bool = True, warnings: bool = False
) -> tuple[str, list[tuple[str, str, bool]]] | None:
    """The root and the module finder's probes behind this process's last ``parse_project`` of
    ``paths`` with these flags (root-relative ``(kind, path, answer)``; ``None`` if it made none)."""
    files = expand_paths(paths)
    root_path = find_root(paths)
    probes = cache.probes_seen(root_path, [relative_to_root(f, root_path) for f in files], hashes, warnings)
    return None if probes is None else (str(root_path), probes)


def _parse(
    paths: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str] | None, hashes: bool, warnings: bool, use_cache: bool
) -> Graph:
    files = expand_paths(paths)
    if not files:
        raise PipelineDefinitionError(
            "no pipeline file found: no .py file there imports barque or barca",
            where=", ".join(str(p) for p in paths),
            hint="Name the pipeline file itself, or a directory holding files that import barque.",
        )
    root_path = resolve(root) if root is not None else find_root(paths)
    rels = [relative_to_root(f, root_path) for f in files]
    if use_cache:
        graph = cache.load(root_path, rels, hashes, warnings)
        if graph is not None:
            return graph
    from barque.parsing.build import parse_files

    graph, probes = parse_files(root_path, rels, hashes, warnings)
    if use_cache:
        cache.save(root_path, rels, hashes, warnings, graph, probes)
    return graph
