"""Turning step outputs into bytes and back: ``json``, ``pickle``, ``parquet`` and ``csv``.

Constraints it keeps:
- JSON is canonical (sorted keys, compact separators, UTF-8, no NaN): equal values give equal
  bytes, so equal outputs get equal content hashes and early cutoff works.
- JSON is chosen only for values that come back *identical*: dicts with str keys, lists, str,
  int, finite float, bool and None, by exact type. A tuple, a set or an int subclass would come
  back changed, so it goes to pickle.
- pandas and pyarrow are optional and never imported here just to look: a value can only be a
  DataFrame if pandas is already loaded.
- ``csv`` is never chosen by value, only asked for (``serializer="csv"``, a ``.csv`` sink), as
  barca does: a header and no index, and it reads back as a DataFrame whose types CSV readers
  infer, so it is not a round trip.
- The cyclic garbage collector pauses while a value is checked, encoded or decoded, as it does
  while a project is parsed (``barque.parsing.entry``): those allocate many containers and free
  none, so a collection meanwhile only rescans live objects. Decoding 150,000 JSON rows (10 MB)
  took 0.65 s with it and 0.16 s without (bench/FINDINGS.md); pausing it delays, never skips, the
  collection of whatever garbage a step made.
"""

from __future__ import annotations

import gc
import importlib.util
import io
import json
import math
import sys
from functools import lru_cache
from typing import Any, Callable, TypeVar

from barque.errors import BarqueError

JSON, PICKLE, PARQUET, CSV = "json", "pickle", "parquet", "csv"
SERIALIZERS = (JSON, PICKLE, PARQUET, CSV)
TABULAR = frozenset({PARQUET, CSV})  # the formats an input's annotation picks a reader for
PICKLE_PROTOCOL = 5  # fixed, so the bytes (and hashes) do not change with the Python default
_SCALARS = frozenset({str, int, bool, type(None)})  # exact types JSON gives back unchanged; float needs a finiteness check
_T = TypeVar("_T")


class SerializerError(BarqueError):
    """A value cannot be written with the serializer asked for, or stored bytes cannot be read."""


def canonical_json(obj: Any) -> bytes:
    """The one JSON encoding barque hashes and stores: sorted keys, compact, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def is_jsonable(value: Any) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged (see the module docstring)."""
    return _paused_gc(lambda: _checked_jsonable(value))


def _checked_jsonable(value: Any) -> bool:
    try:
        return _jsonable(value)
    except RecursionError:  # a cycle, or nesting deeper than JSON can usefully hold
        return False


def _jsonable(value: Any) -> bool:
    t = type(value)
    if t in _SCALARS:
        return True
    if t is float:
        return math.isfinite(value)
    if t is list:
        items = value
    elif t is dict:
        for k in value:
            if type(k) is not str:
                return False
        items = value.values()
    else:
        return False
    # A loop rather than all() over a generator: the items of a large value are mostly scalars,
    # checked here without a call each (the walk of 150,000 rows took half the time).
    for v in items:
        tv = type(v)
        if tv in _SCALARS:
            continue
        if tv is float:
            if not math.isfinite(v):
                return False
        elif not _jsonable(v):
            return False
    return True


def _paused_gc(work: Callable[[], _T]) -> _T:
    """``work()`` with the cyclic collector paused (see the module docstring), then as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return work()
    finally:
        if was_enabled:
            gc.enable()


def choose(value: Any) -> str:
    """The serializer used when none is asked for."""
    if is_jsonable(value):
        return JSON
    if _is_dataframe(value) and _has_pyarrow():
        return PARQUET
    return PICKLE


def serialize(value: Any, serializer: str | None = None) -> tuple[bytes, str]:
    """Encode ``value``; return the bytes and the serializer's name (to store beside them)."""
    return _paused_gc(lambda: _serialize(value, serializer))


def _serialize(value: Any, serializer: str | None) -> tuple[bytes, str]:
    if serializer is None:
        name = choose(value)
        try:
            # choose() has just walked the value to pick JSON: walking a large one twice costs.
            return (_encode_json(value, checked=True) if name == JSON else _ENCODERS[name](value)), name
        except SerializerError:
            # JSON with a lone surrogate, or a frame Arrow cannot hold (e.g. a complex
            # column): pickle still can.
            if name == PICKLE:
                raise
            return _encode_pickle(value), PICKLE
    encoder = _ENCODERS.get(serializer)
    if encoder is None:
        raise SerializerError(f"unknown serializer {serializer!r}", hint=f"use one of: {', '.join(SERIALIZERS)}")
    return encoder(value), serializer


def deserialize(data: bytes, serializer: str) -> Any:
    """Decode bytes written by ``serialize`` with ``serializer``."""
    decoder = _DECODERS.get(serializer)
    if decoder is None:
        raise SerializerError(
            f"unknown serializer {serializer!r} for stored data",
            hint=f"this barque knows {', '.join(SERIALIZERS)}; was the artifact written by a newer version?",
        )
    try:
        return _paused_gc(lambda: decoder(data))
    except SerializerError:
        raise
    except Exception as e:
        raise SerializerError(f"cannot decode {len(data)} bytes as {serializer}: {e}") from e


def _cannot(serializer: str, value: Any, why: str, hint: str | None = None) -> SerializerError:
    t = type(value)
    return SerializerError(f"the {serializer} serializer cannot encode a {t.__module__}.{t.__qualname__}: {why}", hint=hint)


def _encode_json(value: Any, checked: bool = False) -> bytes:
    if not checked and not is_jsonable(value):
        raise _cannot(
            JSON,
            value,
            "only dicts with str keys, lists, str, int, finite float, bool and None round-trip through JSON",
            hint="leave the serializer unset (pickle is chosen) or convert the value first",
        )
    try:
        return canonical_json(value)
    except UnicodeEncodeError as e:
        raise _cannot(JSON, value, f"a string is not valid Unicode ({e.reason})") from e


def _encode_pickle(value: Any) -> bytes:
    import pickle  # here, not at the top: about 2 ms of start-up that JSON-only runs do not need

    try:
        return pickle.dumps(value, protocol=PICKLE_PROTOCOL)
    except Exception as e:  # pickling raises many kinds: TypeError, PicklingError, AttributeError
        raise _cannot(PICKLE, value, str(e), hint="return a value that can be pickled (no open files, locks, lambdas)") from e


def _encode_parquet(value: Any) -> bytes:
    if not _is_dataframe(value):
        raise _cannot(PARQUET, value, "only pandas DataFrames are written as Parquet")
    if not _has_pyarrow():
        raise _cannot(PARQUET, value, "pyarrow is not installed", hint="install the extra: pip install 'barque[parquet]'")
    buf = io.BytesIO()
    try:
        value.to_parquet(buf, engine="pyarrow")
    except Exception as e:
        raise _cannot(PARQUET, value, str(e)) from e
    return buf.getvalue()


def _encode_csv(value: Any) -> bytes:
    if not _is_dataframe(value):
        raise _cannot(CSV, value, "only pandas DataFrames are written as CSV")
    try:
        return str(value.to_csv(index=False)).encode("utf-8")
    except Exception as e:
        raise _cannot(CSV, value, str(e)) from e


def _decode_csv(data: bytes) -> Any:
    if importlib.util.find_spec("pandas") is None:
        raise SerializerError("this artifact is CSV and pandas is not installed", hint="install the extra: pip install 'barque[parquet]'")
    import pandas  # type: ignore[import-untyped]

    return pandas.read_csv(io.BytesIO(data))


def _decode_pickle(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


def _decode_parquet(data: bytes) -> Any:
    if not _has_pyarrow():
        raise SerializerError(
            "this artifact is Parquet and pyarrow is not installed", hint="install the extra: pip install 'barque[parquet]'"
        )
    import pandas  # type: ignore[import-untyped]

    return pandas.read_parquet(io.BytesIO(data), engine="pyarrow")


def as_reader(frame: Any, reader: str) -> Any:
    """A decoded Parquet or CSV value (a pandas DataFrame) as the reader an input's annotation
    names, as barca reads it: ``arrow`` a pyarrow Table, ``polars`` / ``polars_lazy`` a polars
    DataFrame / LazyFrame, ``duckdb`` a DuckDB relation; ``pandas`` leaves it as it is.

    The reader's library must be installed: a missing one is an error that says which."""
    if reader == "pandas" or not _is_dataframe(frame):
        return frame
    library = {"arrow": "pyarrow", "polars": "polars", "polars_lazy": "polars", "duckdb": "duckdb"}[reader]
    if importlib.util.find_spec(library) is None:
        raise SerializerError(
            f"this input is annotated for {library}, which is not installed",
            hint=f"install it (pip install {library}) or annotate the parameter pd.DataFrame",
        )
    if reader == "arrow":
        import pyarrow  # type: ignore[import-untyped]

        return pyarrow.Table.from_pandas(frame, preserve_index=False)
    if reader == "duckdb":
        import duckdb  # type: ignore[import-not-found]

        return duckdb.from_df(frame)
    import polars  # type: ignore[import-not-found]

    out = polars.from_pandas(frame)
    return out.lazy() if reader == "polars_lazy" else out


def _is_dataframe(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


@lru_cache(maxsize=1)
def _has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None and importlib.util.find_spec("pandas") is not None


_ENCODERS = {JSON: _encode_json, PICKLE: _encode_pickle, PARQUET: _encode_parquet, CSV: _encode_csv}
_DECODERS = {JSON: lambda data: json.loads(data.decode("utf-8")), PICKLE: _decode_pickle, PARQUET: _decode_parquet, CSV: _decode_csv}
