"""Records to JSON-ready values and back, driven by the record classes themselves.

``codec_for(tp)`` reads a type the way the model declares it (a ``NamedTuple``'s ``_fields`` and
its resolved annotations) and returns an encoder and a decoder, so a field added to ``Node`` (or
to any record it holds) is carried with no edit here. What it knows: ``str``, ``int``,
``bool``, ``float`` (an ``int`` too, as the numeric tower allows; JSON keeps the two apart),
``None``, ``Literal`` of those, unions of those, ``X | None``, ``tuple[X, ...]``, fixed
``tuple[X, Y]``, ``Mapping``/``dict`` with ``str`` keys, and ``NamedTuple`` records, not
subclassed (a record is the list of its field values, in field order). Any other type
raises ``Unsupported`` when the codec is built, and a value that is not what its field
declares raises it when encoded: the caller then stores nothing, rather than a record that
would come back different. Decoding checks every value's type on the way in, so an entry of
another shape raises ``Malformed``, never builds a record with a wrong value in it.

Exactness is the contract: ``decode(json.loads(json.dumps(encode(v)))) == v`` and has the
same ``repr`` (``1`` stays an ``int`` in a ``float`` field). Non-finite floats are for the
caller's ``json.dumps(allow_nan=False)`` to refuse.

A record's decoder is written out as Python source from its field positions and compiled once,
as ``collections.namedtuple`` writes ``__new__``: decoding is most of a fully cached plan, and a loop over
the fields took half as long again (bench/FINDINGS.md, issue 11).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Callable, NamedTuple

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]


class Unsupported(TypeError):
    """A type, or a value, this codec cannot carry exactly."""


class Malformed(ValueError):
    """Encoded data that is not what the codec writes for this type."""


class Codec(NamedTuple):
    encode: Encode
    decode: Decode


_SCALARS: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), bool: (bool,), float: (int, float), type(None): (type(None),)}


@lru_cache(maxsize=None)
def codec_for(tp: Any) -> Codec:
    """The codec of ``tp`` (a resolved annotation or a ``NamedTuple`` record); ``Unsupported`` if
    some part of it is outside what this module knows."""
    scalar = _scalar_types(tp)
    if scalar is not None:
        return _scalar_codec(tp, scalar)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) == 1 and len(args) == 2:
            return _optional(codec_for(rest[0]))
        raise Unsupported(f"a union other than X | None, of scalars: {tp!r}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple_of(args[0])
        if args and Ellipsis not in args:
            return _fixed_tuple(tuple(codec_for(a) for a in args))
        raise Unsupported(f"a tuple type without element types: {tp!r}")
    if origin in (dict, Mapping) and args and args[0] is str:
        return _str_mapping(codec_for(args[1]))
    if _is_record(tp):
        return _record(tp)
    raise Unsupported(f"no encoding for {tp!r}")


def record_fields(cls: type) -> list[tuple[str, Any]]:
    """Every field of the record ``cls`` with its resolved type, in the order a record lists them."""
    hints = typing.get_type_hints(cls)
    return [(name, hints[name]) for name in cls._fields]  # type: ignore[attr-defined]


def _is_record(tp: Any) -> bool:
    """A ``NamedTuple`` class itself: a subclass of one could hold more than its fields, which
    a decoder that builds the tuple from the fields alone would lose."""
    return isinstance(tp, type) and tp.__bases__ == (tuple,) and hasattr(tp, "_fields")


def _scalar_types(tp: Any) -> tuple[type, ...] | None:
    """The runtime types a scalar annotation (or a union of them, ``Literal`` included) admits."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal and all(type(a) in (str, int, bool) for a in args):
        return tuple({type(a) for a in args})
    if origin in (typing.Union, types.UnionType):
        parts = [_scalar_types(a) for a in args]
        if all(p is not None for p in parts):
            return tuple({t for p in parts for t in p or ()})
    return None


def _scalar_codec(tp: Any, allowed: tuple[type, ...]) -> Codec:
    literals = _literal_values(tp)

    def check(value: Any, error: type[Exception]) -> Any:
        # type(), not isinstance: True is an int, and would not come back as one
        if type(value) not in allowed or (literals is not None and value not in literals):
            raise error(f"{value!r} is not a {tp!r}")
        return value

    return Codec(lambda v: check(v, Unsupported), lambda v: check(v, Malformed))


def _literal_values(tp: Any) -> frozenset[Any] | None:
    """The values a ``Literal`` (or a union holding one) allows; ``None`` when any value of the types goes."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return frozenset(args)
    if origin in (typing.Union, types.UnionType):
        parts = [_literal_values(a) for a in args]
        if all(p is not None for p in parts):
            return frozenset().union(*(p for p in parts if p is not None))
        if any(p is not None for p in parts):
            raise Unsupported(f"a union of a Literal and an open type: {tp!r}")
    return None


def _optional(inner: Codec) -> Codec:
    enc, dec = inner
    return Codec(lambda v: None if v is None else enc(v), lambda v: None if v is None else dec(v))


def _tuple_of(element: Any) -> Codec:
    scalar = _scalar_types(element)
    if scalar is not None and len(scalar) == 1 and _literal_values(element) is None:
        # the common case (names, tags): one type check per item, no call per item
        (kind,) = scalar

        def encode_scalars(v: Any) -> list[Any]:
            if type(v) is not tuple or not all(type(x) is kind for x in v):
                raise Unsupported(f"{v!r} is not a tuple of {kind.__name__}")
            return list(v)

        def decode_scalars(v: Any) -> tuple[Any, ...]:
            if type(v) is not list or not all(type(x) is kind for x in v):
                raise Malformed(f"{v!r} is not a list of {kind.__name__}")
            return tuple(v)

        return Codec(encode_scalars, decode_scalars)
    enc, dec = codec_for(element)

    def encode(v: Any) -> list[Any]:
        if type(v) is not tuple:
            raise Unsupported(f"{v!r} is not a tuple")
        return [enc(x) for x in v]

    def decode(v: Any) -> tuple[Any, ...]:
        if type(v) is not list:
            raise Malformed(f"{v!r} is not a list")
        return tuple([dec(x) for x in v]) if v else ()

    return Codec(encode, decode)


def _fixed_tuple(parts: tuple[Codec, ...]) -> Codec:
    n = len(parts)

    def encode(v: Any) -> list[Any]:
        if type(v) is not tuple or len(v) != n:
            raise Unsupported(f"{v!r} is not a tuple of {n}")
        return [c.encode(x) for c, x in zip(parts, v)]

    def decode(v: Any) -> tuple[Any, ...]:
        if type(v) is not list or len(v) != n:
            raise Malformed(f"{v!r} is not a list of {n}")
        return tuple([c.decode(x) for c, x in zip(parts, v)])

    return Codec(encode, decode)


def _str_mapping(values: Codec) -> Codec:
    enc, dec = values

    def encode(v: Any) -> dict[str, Any]:
        # a dict exactly: another Mapping would come back as a dict, not as itself
        if type(v) is not dict or not all(type(k) is str for k in v):
            raise Unsupported(f"{type(v).__name__} is not a dict with str keys")
        return {k: enc(x) for k, x in v.items()}

    def decode(v: Any) -> dict[str, Any]:
        if type(v) is not dict:
            raise Malformed(f"{v!r} is not an object")
        return {k: dec(x) for k, x in v.items()}

    return Codec(encode, decode)


def _decoder(
    cls: type, names: tuple[str, ...], scalar_at: tuple[int, ...], literal_at: tuple[int, ...],
    tuples_at: dict[int, Decode], others_at: dict[int, Decode], sound: set[tuple[Any, ...]],
    check: Callable[[list[Any], tuple[Any, ...]], None],
) -> Decode:
    """The decoder of one record, written out as Python source for its fields: a list of the
    field values in, the record out, after one set lookup for the types of its scalars and the
    values of its ``Literal`` fields (``check`` decides a signature not seen before)."""
    n = len(names)
    v = [f"v{i}" for i in range(n)]
    signature = ", ".join([f"type({v[i]})" for i in scalar_at] + [v[i] for i in literal_at])

    def value(i: int) -> str:
        if i in tuples_at:
            return f"() if {v[i]} == [] else d{i}({v[i]})"
        if i in others_at:
            return f"d{i}({v[i]})"
        return v[i]

    fields = ", ".join(value(i) for i in range(n))
    source = (
        "def decode(row):\n"
        f"    if type(row) is not list or len(row) != {n}:\n"
        "        raise Malformed(f'not a {cls.__name__} record')\n"
        + (f"    {', '.join(v)}, = row\n" if n else "")
        + f"    signature = ({signature}{',' if signature else ''})\n"
        + "    if signature not in sound:\n"
        "        check(row, signature)\n"
        f"    return new(cls, ({fields}{',' if n == 1 else ''}))\n"
    )
    scope: dict[str, Any] = {"Malformed": Malformed, "sound": sound, "check": check, "new": tuple.__new__, "cls": cls}
    scope.update({f"d{i}": dec for i, dec in {**tuples_at, **others_at}.items()})
    exec(source, scope)  # noqa: S102 - source built above from field positions only, never from data
    decoder: Decode = scope["decode"]
    return decoder


def _record(cls: type[tuple[Any, ...]]) -> Codec:
    fields = record_fields(cls)
    names = tuple(name for name, _ in fields)
    codecs = [codec_for(tp) for _, tp in fields]
    encoders = [c.encode for c in codecs]
    scalar_at = tuple(i for i, (_, tp) in enumerate(fields) if _scalar_types(tp) is not None)
    allowed_at = tuple(_scalar_types(fields[i][1]) or () for i in scalar_at)
    literal_at = tuple(i for i in scalar_at if _literal_values(fields[i][1]) is not None)
    literals_at = tuple(_literal_values(fields[i][1]) or frozenset() for i in literal_at)
    # tuple fields are mostly empty: () without a call for those
    tuples_at = tuple((i, codecs[i].decode) for i, (_, tp) in enumerate(fields) if typing.get_origin(tp) is tuple)
    others_at = tuple((i, codecs[i].decode) for i, (_, tp) in enumerate(fields) if _scalar_types(tp) is None and typing.get_origin(tp) is not tuple)
    # The scalar fields' types and the Literal fields' values, as one tuple per record, checked
    # once per distinct tuple: a large graph's nodes share a handful, and checking field by
    # field was most of a cached plan's decode.
    sound: set[tuple[Any, ...]] = set()

    def check(row: list[Any], signature: tuple[Any, ...]) -> None:
        for i, kind, allowed in zip(scalar_at, signature, allowed_at):
            if kind not in allowed:
                raise Malformed(f"{cls.__name__}.{names[i]}: {row[i]!r}")
        for i, literals in zip(literal_at, literals_at):
            if row[i] not in literals:
                raise Malformed(f"{cls.__name__}.{names[i]}: {row[i]!r}")
        sound.add(signature)

    decode = _decoder(cls, names, scalar_at, literal_at, dict(tuples_at), dict(others_at), sound, check)

    def encode(v: Any) -> list[Any]:
        if type(v) is not cls:  # a subclass's own fields would be lost
            raise Unsupported(f"{type(v).__name__} is not {cls.__name__}")
        return [e(x) for e, x in zip(encoders, v)]

    return Codec(encode, decode)
