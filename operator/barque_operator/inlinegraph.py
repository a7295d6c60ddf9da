"""The graph of a Pipeline that carries its code but not its graph: parsed here, as ``barque compile`` would.

``barque compile`` leaves ``spec.graph`` out of a large Pipeline (see ``runtime/barque_cli/cmd_compile.py``):
at about 340 bytes a node, 64 of them a code hash that no compression shrinks, the graph of
10,000 steps is megabytes even gzip-compressed, while the code it was parsed from packs into a
few hundred KiB at most. The parser is static (it reads ``ast``, never imports) and ships with
the operator, so the operator parses the same files the same way: the inline files are written
to a private temporary folder (the only place the parser reads from), the pipeline files named in
``spec.code.inline.pipelineFiles`` parsed with that folder as the root, and the result checked by
the same ``GraphSpec`` model a compiled graph meets.

A parse of 10,000 nodes costs seconds of CPU, so each result is kept (a few, by the files'
digest): the ``Ready`` check of a new generation parses, and the runs that follow reuse it.
A graph parsed from a code snapshot is exact for that snapshot, so the cache cannot serve a
stale graph; it is only a cache, and a restarted operator parses again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Sequence

from barque.errors import BarqueError
from barque.model import Graph
from barque_operator.models import GraphSpec

_KEPT = 8  # parsed graphs kept, by digest: one per live Pipeline version is all a burst of runs needs
_cache: OrderedDict[str, Graph] = OrderedDict()
_parsing: dict[str, threading.Lock] = {}  # digest -> held while that content is being parsed
_lock = threading.Lock()


class InlineGraphError(BarqueError):
    """The inline code does not parse into a graph; ``where`` names the file and line."""


def graph_of_inline(files: Mapping[str, str], pipeline_files: Sequence[str]) -> Graph:
    """The graph of ``pipeline_files`` among the inline ``files`` (root ``.``), parsed once per content.

    Raises ``InlineGraphError`` with the parser's location and hint when the code does not parse.
    """
    key = _digest(files, pipeline_files)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        gate = _parsing.setdefault(key, threading.Lock())
    # One parse per content at a time: the Ready check of a new Pipeline and the start of a run
    # created beside it would otherwise both spend the seconds.
    with gate:
        with _lock:
            if key in _cache:
                return _cache[key]
        try:
            graph = _parse(files, pipeline_files)
            with _lock:
                _cache[key] = graph
                while len(_cache) > _KEPT:
                    _cache.popitem(last=False)
        finally:
            with _lock:
                _parsing.pop(key, None)
    return graph


def _digest(files: Mapping[str, str], pipeline_files: Sequence[str]) -> str:
    doc = json.dumps([sorted(files.items()), list(pipeline_files)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


def _parse(files: Mapping[str, str], pipeline_files: Sequence[str]) -> Graph:
    from barque.parsing import parse_project  # the parser's modules load only when a Pipeline needs them

    with tempfile.TemporaryDirectory(prefix="barque-inline-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():  # paths checked by InlineCode: relative, no '..'
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        try:
            parsed = parse_project([str(root / rel) for rel in pipeline_files], root=root, use_cache=False)
        except BarqueError as err:
            raise InlineGraphError(err.message, where=_relative(err.where, tmp), hint=err.hint) from None
        except (SyntaxError, RecursionError, MemoryError, ValueError) as err:  # what ast itself may raise
            raise InlineGraphError(f"cannot parse the inline code: {type(err).__name__}: {err}",
                                   hint="run `barque compile` on the files again and apply its output") from None
    # Through the model a compiled graph meets, so both forms are held to the same bounds.
    return Graph.from_dict(GraphSpec.model_validate({**parsed.to_dict(), "root": "."}).model_dump())


def _relative(where: str | None, tmp: str) -> str | None:
    """The parser's location without the temporary folder: ``pipeline.py:12``, as compile shows it."""
    return where.replace(tmp.rstrip("/") + "/", "") if where else where
