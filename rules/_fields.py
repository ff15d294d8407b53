"""Known attribute paths of every CEL variable, read from the Avro schemas, for lint.

A field spec is ``None`` (free-form: any path below is fine) or a mapping from field name to
the spec below it; the key ``*`` stands for any key (Avro maps). An empty mapping is a leaf.
The ``.avsc`` files are read as JSON from the ``clearance.schemas`` package folder without
importing it, so lint does not depend on the codec.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._model import Kind
from ._variables import VARIABLES

__all__ = ["FieldSpec", "unknown_field", "variable_fields"]

FieldSpec = Mapping[str, "FieldSpec"] | None
_ANY = "*"
_LEAF: Mapping[str, FieldSpec] = {}
_DETECTOR = {_ANY: {"score": _LEAF, "label": _LEAF}}
_FREE_SCALARS = {_ANY: _LEAF}


def _schemas_dir() -> Path:
    spec = importlib.util.find_spec("clearance.schemas")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "schemas"


@functools.cache
def _record(name: str) -> Mapping[str, FieldSpec]:
    schema = json.loads((_schemas_dir() / f"{name}.avsc").read_text(encoding="utf-8"))
    spec = _to_spec(schema, {})
    assert isinstance(spec, Mapping)
    return spec


def _to_spec(schema: Any, named: dict[str, FieldSpec]) -> FieldSpec:
    if isinstance(schema, str):
        return named.get(schema, _LEAF)
    if isinstance(schema, list):
        branches = [branch for branch in schema if branch != "null"]
        return _to_spec(branches[0], named) if len(branches) == 1 else _LEAF
    kind = schema.get("type")
    if kind == "record":
        fields: dict[str, FieldSpec] = {}
        named[schema["name"]] = fields
        for field in schema["fields"]:
            fields[field["name"]] = _to_spec(field["type"], named)
        return fields
    if kind == "map":
        return {_ANY: _to_spec(schema["values"], named)}
    if isinstance(kind, (dict, list)):
        return _to_spec(kind, named)
    return _LEAF


def _model_fields() -> Mapping[str, FieldSpec]:
    record = _record("ModelEvent")
    names = ("model_id", "model_version", "type", "environment", "from_environment", "passed")
    return {
        **{name: record[name] for name in names},
        "metrics": record["metrics"],
        "drift": _FREE_SCALARS,
    }


@functools.cache
def variable_fields(kind: Kind) -> Mapping[str, FieldSpec]:
    """Field spec per variable name for events of ``kind``."""
    specs: dict[str, FieldSpec] = {}
    for name, variable in VARIABLES[kind].items():
        location = variable.schema
        if location is None:
            specs[name] = None
        elif location == ():
            specs[name] = _LEAF
        elif location == ("detectors",):
            specs[name] = _DETECTOR
        elif location == ("model",):
            specs[name] = _model_fields()
        else:
            spec: FieldSpec = _record(location[0])
            for field in location[1:]:
                spec = spec.get(field, _LEAF) if spec is not None else None
            specs[name] = spec
    return specs


def unknown_field(kind: Kind, path: tuple[str, ...]) -> str | None:
    """The first unknown part of ``path`` as ``a.b.c``, or ``None`` when it is known.

    Paths whose root is not a variable of ``kind`` (comprehension variables, typos the
    CEL checker already rejects) are not judged here.
    """
    specs = variable_fields(kind)
    if path[0] not in specs:
        return None
    spec = specs[path[0]]
    for depth, name in enumerate(path[1:], start=1):
        if spec is None:
            return None
        if name in spec:
            spec = spec[name]
        elif _ANY in spec:
            spec = spec[_ANY]
        else:
            return ".".join(path[: depth + 1])
    return None
