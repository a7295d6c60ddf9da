"""``parse_files``: from pipeline files to a checked ``Graph``, reading source only.

The files named (or found below the directories named) are read first; then every project
module they import at module level, and every file an ``asset_ref`` names, transitively.
Nodes come from all of those files. Modules reached only through imports inside function
bodies are read for helper hashing: they appear in ``Graph.files`` but add no nodes.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Iterator, Sequence

from barque.model import Freshness, Graph, Node
from barque.parsing.checks import Checker
from barque.parsing.declare import Decl, api_call, node_options, read_declarations
from barque.parsing.hashing import Hasher
from barque.parsing.link import Linked, Linker, asset_ref_file
from barque.parsing.project import Project
from barque.parsing.source import SourceModule

_NODE_DECORATORS = frozenset({"asset", "task", "sensor", "sink"})
_ALWAYS, _MANUAL = Freshness("always"), Freshness("manual")


def parse_files(root: Path, rels: Sequence[str], hashes: bool, warnings: bool) -> tuple[Graph, list[tuple[str, str, bool]]]:
    """Parse the pipeline files ``rels`` (relative to ``root``, at least one) into a checked
    ``Graph``; also every file-system probe the parse made (see ``barque.parsing.cache``).

    ``hashes=False`` skips the code hashes (``code_hash`` stays empty, ``helpers`` too): they
    only feed cache keys, so ``barque plan`` without ``--cache`` does without them, and
    ``cachekeys.key_components`` refuses a node that has none.
    """
    project = Project(root)
    decls = _read_pipeline(project, list(rels))
    linked = Linker(project, decls).link()
    hasher = _hasher(project, decls) if hashes else None
    nodes = {item.decl.id: _node(item, hasher) for item in linked}
    digests = {rel: mod.sha256 for rel, mod in project.modules.items()}
    found = tuple(Checker(nodes, {item.decl.id: item.decl.fn for item in linked}, project.modules)(nodes)) if warnings else ()
    return Graph(root=str(root), nodes=nodes, files=digests, warnings=found), project.finder.probes()


def _hasher(project: Project, decls: list[Decl]) -> Hasher:
    known = {ident for decl in decls for ident in decl.barque_decorators}
    return Hasher(project, lambda mod, dec: id(dec) in known or api_call(project, mod, dec)[0] in _NODE_DECORATORS)


def _read_pipeline(project: Project, given: list[str]) -> list[Decl]:
    queue, seen = deque(given), set(given)
    decls: list[Decl] = []
    while queue:
        mod = project.load(queue.popleft())
        found = read_declarations(project, mod)
        decls.extend(found)
        for rel in _reached(project, mod, found):
            if rel not in seen:
                seen.add(rel)
                queue.append(rel)
    return decls


def _reached(project: Project, mod: SourceModule, decls: list[Decl]) -> Iterator[str]:
    """Files ``mod`` brings along: project modules it imports, files its asset_refs name."""
    for module in mod.imports:
        if module.file is not None:
            yield module.file
    for decl in decls:
        refs = [i.ref for i in decl.inputs] + [p.source for p in decl.partitions if p.source]
        for ref in refs:
            if ref.file is not None:
                rel = asset_ref_file(project, mod, ref.file)
                if rel is not None:
                    yield rel


def _node(item: Linked, hasher: Hasher | None) -> Node:
    decl, options = item.decl, item.decl.options
    mod, fn = decl.module, decl.fn
    return Node(
        id=decl.id,
        kind=decl.kind,  # type: ignore[arg-type]  # one of NodeKind: declare reads only barque's decorators
        file=mod.rel,
        module=mod.module,
        function=fn.name,
        line=fn.lineno,
        inputs=item.inputs,
        partitions=item.partitions,
        serializer=options.get("serializer"),
        freshness=options.get("freshness", _MANUAL if decl.kind == "sensor" else _ALWAYS),
        retries=options.get("retries", 1),
        retry_backoff=options.get("retry_backoff", 0.0),
        timeout_seconds=options.get("timeout_seconds"),
        env=options.get("env", ()),
        sinks=tuple(decl.sinks),
        description=options.get("description"),
        tags=options.get("tags", ()),
        code_hash=hasher.code_hash(mod, fn) if hasher else "",
        helpers=hasher.helpers(mod, fn) if hasher else (),
        params=item.params,
        **node_options(decl),
        run_if=options.get("run_if"),
        on=options.get("on"),
    )
