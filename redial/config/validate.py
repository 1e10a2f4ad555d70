"""Check a document against the schema with msgspec; word its error as a :class:`ConfigError`.

msgspec stops at the first error and says where (``$.policy.retry.attempts``) and
what kind (a wrong type, a broken constraint, an unknown or missing key). The
message here names the dotted key path and says what was expected, worded from the
schema's type at that path (``msgspec.inspect``): its ``description``, else its
type and range. A wrong type shows the type given, a wrong value the value itself;
an unknown key lists the known ones with a did-you-mean.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

from redial.exceptions import ConfigError

S = TypeVar("S")

_MISSING: Any = object()
_ERROR = re.compile(r"(?s)(?P<what>.*?)(?: - at (?P<key>`key` in )?`\$(?P<where>[^`]*)`)?")
_STEP = re.compile(r"\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>\d+)\]|\[\.\.\.\]")
_FIELD = re.compile(r"Object (?P<kind>contains unknown|missing required) field `(?P<name>[^`]*)`")
_SEQUENCES = (mi.ListType, mi.VarTupleType, mi.TupleType, mi.FrozenSetType, mi.SetType)


def convert(data: object, schema: type[S], path: str = "", *, strict: bool = True) -> S:
    """``data`` as ``schema``, or a :class:`ConfigError` naming the key under ``path``."""
    try:
        return msgspec.convert(data, schema, strict=strict)
    except msgspec.ValidationError as exc:
        raise config_error(str(exc), data, schema, path) from None


def config_error(error: str, data: object, schema: type[Any], path: str = "") -> ConfigError:
    """The :class:`ConfigError` for msgspec's ``error`` converting ``data`` to ``schema``."""
    match = _ERROR.fullmatch(error)
    assert match is not None  # the pattern matches any text
    what, where = match["what"], match["where"] or ""
    steps: list[str | int] = []
    for step in _STEP.finditer(where):
        if step["field"] is not None:
            steps.append(step["field"])
        elif step["index"] is not None:
            steps.append(int(step["index"]))
        else:
            break  # inside a mapping of free keys: the schema says no more
    node, value = _follow(mi.type_info(schema), data, steps)
    at = _join(path, steps)
    if match["key"]:
        bad = next((k for k in value if not isinstance(k, str)), None) if isinstance(value, Mapping) else None
        if bad is not None:
            return ConfigError(at, f"key {bad!r} is not a string")
        return ConfigError(at, f"a key is wrong: {what[:1].lower() + what[1:]}")
    field = _FIELD.match(what)
    if field is not None:
        struct = _unwrap(node)
        fields = {f.encode_name: f for f in struct.fields} if isinstance(struct, mi.StructType) else {}
        name = field["name"]
        if field["kind"] == "missing required" and name in fields:
            return ConfigError(_join(at, [name]), f"missing: expected {in_words(fields[name].type)}")
        hint = difflib.get_close_matches(name, sorted(fields), n=1)
        also = f"; did you mean {hint[0]!r}?" if hint else ""
        return ConfigError(_join(at, [name]), f"unknown key{also} (known: {', '.join(sorted(fields))})")
    if value is _MISSING:  # not found in the data: keep msgspec's own words
        return ConfigError(at, what[:1].lower() + what[1:])
    expected = f"expected {in_words(node)}"
    if what.startswith("Expected `") and ", got `" in what:  # a wrong type: say which type came
        return ConfigError(at, f"{expected}, got {_kind(value)}")
    advice = _extra(node).get("hint")
    also = f"; {advice.format(value=value)}" if isinstance(advice, str) and isinstance(value, str) and value else ""
    return ConfigError(at, f"{expected}, got {value!r}{also}")


def in_words(node: mi.Type) -> str:
    """What a value of the schema type ``node`` is, in words: "a whole number from 1 to 10"."""
    if isinstance(node, mi.Metadata):
        description = (node.extra_json_schema or {}).get("description")
        return str(description) if description else in_words(node.type)
    if isinstance(node, mi.UnionType):
        return " or ".join(in_words(t) for t in node.types if not isinstance(t, mi.NoneType))
    if isinstance(node, mi.BoolType):
        return "true or false"
    if isinstance(node, mi.IntType | mi.FloatType):
        what = "a whole number" if isinstance(node, mi.IntType) else "a number"
        low, high = node.ge if node.ge is not None else node.gt, node.le if node.le is not None else node.lt
        if low is not None and high is not None:
            return f"{what} from {low:g} to {high:g}"
        if low is not None:
            return f"{what} of at least {low:g}"
        return what if high is None else f"{what} of at most {high:g}"
    if isinstance(node, mi.StrType):
        return "a non-empty string" if node.min_length else "a string"
    if isinstance(node, mi.LiteralType):
        if len(node.values) == 1:
            return f'"{node.values[0]}"'
        return "one of " + ", ".join(str(v) for v in node.values)
    if isinstance(node, mi.StructType | mi.DictType):
        return "a mapping"
    if isinstance(node, _SEQUENCES):
        return "a non-empty list" if getattr(node, "min_length", None) else "a list"
    if isinstance(node, mi.DateType):
        return "a date YYYY-MM-DD"
    if isinstance(node, mi.NoneType):
        return "nothing"
    return type(node).__name__.removesuffix("Type").lower()


def _follow(node: mi.Type, value: object, steps: Sequence[str | int]) -> tuple[mi.Type, Any]:
    """The schema type and the value at ``steps`` from the root."""
    for step in steps:
        inner = _unwrap(node, step)
        if isinstance(step, str) and isinstance(inner, mi.StructType):
            node = next((f.type for f in inner.fields if f.encode_name == step), mi.AnyType())
            value = value.get(step, _MISSING) if isinstance(value, Mapping) else _MISSING
        elif isinstance(step, int) and isinstance(inner, _SEQUENCES):
            node = inner.item_type if not isinstance(inner, mi.TupleType) else inner.item_types[step]
            value = value[step] if isinstance(value, list | tuple) and step < len(value) else _MISSING
        else:
            return mi.AnyType(), _MISSING
    return node, value


def _unwrap(node: mi.Type, step: str | int | None = None) -> mi.Type:
    """``node`` without its metadata; of a union, the member a ``step`` goes into."""
    while isinstance(node, mi.Metadata):
        node = node.type
    if isinstance(node, mi.UnionType):
        wanted: Any = mi.StructType if isinstance(step, str) or step is None else _SEQUENCES
        for member in node.types:
            if isinstance(_unwrap(member), wanted):
                return _unwrap(member)
    return node


def _extra(node: mi.Type) -> dict[str, Any]:
    return dict(node.extra or {}) if isinstance(node, mi.Metadata) else {}


def _join(path: str, steps: Sequence[str | int]) -> str:
    for step in steps:
        path = f"{path}[{step}]" if isinstance(step, int) else f"{path}.{step}" if path else step
    return path


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
