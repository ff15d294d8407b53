"""The shipped schemas: loading, Parsing Canonical Form and CRC-64-AVRO fingerprints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest

import clearance.schemas
from clearance.errors import ClearanceError
from clearance.schemas import (
    SCHEMA_NAMES,
    UnknownSchemaError,
    fingerprint,
    schema_by_fingerprint,
    schema_info,
    schema_names,
)
from clearance.schemas._registry import _crc64_avro, _load

SCHEMA_DIR = Path(clearance.schemas.__file__).parent

# From Avro's shared test data (share/test/data/schema-tests.txt): canonical form and the
# fingerprint as the Java implementation prints it, a signed 64-bit integer.
AVRO_TEST_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"int"', 8247732601305521295),
    ('"string"', -8142146995180207161),
    ('["int","boolean"]', 5392556393470105090),
    ('{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771),
    ('{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245),
    ('{"type":"map","values":"string"}', -8732877298790414990),
]

EMPTY64 = 0xC15D213AA4D7A795


def spec_fingerprint(canonical_form: str) -> bytes:
    """CRC-64-AVRO exactly as the Avro specification writes it out, little-endian."""
    table = []
    for i in range(256):
        value = i
        for _ in range(8):
            value = (value >> 1) ^ (EMPTY64 & -(value & 1))
        table.append(value)
    result = EMPTY64
    for byte in canonical_form.encode("utf-8"):
        result = (result >> 8) ^ table[(result ^ byte) & 0xFF]
    return result.to_bytes(8, "little")


def without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [without_logical_types(v) for v in node]
    return node


def test_every_shipped_avsc_file_is_a_schema() -> None:
    files = sorted(path.stem for path in SCHEMA_DIR.glob("*.avsc"))
    assert len(files) == 9
    assert list(schema_names()) == files
    assert schema_names() == SCHEMA_NAMES


def test_schema_info_describes_the_file(kind: str) -> None:
    info = schema_info(kind)
    declared = json.loads((SCHEMA_DIR / f"{kind}.avsc").read_text())
    assert info.name == kind
    assert info.full_name == f"clearance.v1.{kind}"
    assert dict(info.declared) == declared
    assert [f["name"] for f in info.parsed["fields"]] == [f["name"] for f in declared["fields"]]


@pytest.mark.parametrize(("canonical_form", "java_long"), AVRO_TEST_VECTORS)
def test_fingerprint_matches_avro_shared_test_vectors(canonical_form: str, java_long: int) -> None:
    expected = (java_long & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little")
    assert _crc64_avro(canonical_form) == expected
    assert spec_fingerprint(canonical_form) == expected


def test_fingerprint_follows_the_specification(kind: str) -> None:
    info = schema_info(kind)
    assert len(info.fingerprint) == 8
    assert info.fingerprint == spec_fingerprint(info.canonical_form)
    assert fingerprint(kind) == info.fingerprint


def test_fingerprint_matches_the_reference_avro_library(kind: str) -> None:
    info = schema_info(kind)
    reference = avro.schema.parse(info.canonical_form)
    assert reference.canonical_form == info.canonical_form
    assert reference.fingerprint("CRC-64-AVRO") == info.fingerprint


def test_canonical_form_matches_the_reference_avro_library(kind: str) -> None:
    # The reference library keeps {"type":"long"} for a primitive with a logicalType instead of
    # collapsing it to "long" as the specification's [PRIMITIVES] rule says, so it is compared
    # on the schema without logical types (which have no part in the canonical form anyway).
    declared = without_logical_types(json.loads((SCHEMA_DIR / f"{kind}.avsc").read_text()))
    assert (
        avro.schema.parse(json.dumps(declared)).canonical_form == schema_info(kind).canonical_form
    )


def test_canonical_form_keeps_only_what_parsing_needs() -> None:
    canonical = schema_info("ActionEvent").canonical_form
    assert canonical.startswith('{"name":"clearance.v1.ActionEvent","type":"record","fields":[')
    assert '{"name":"occurred_at","type":"long"}' in canonical
    for stripped in ('"doc"', '"default"', '"logicalType"', '"namespace"', " "):
        assert stripped not in canonical


def test_fingerprints_differ_and_find_their_schema() -> None:
    prints = {fingerprint(name) for name in SCHEMA_NAMES}
    assert len(prints) == len(SCHEMA_NAMES)
    for name in SCHEMA_NAMES:
        found = schema_by_fingerprint(fingerprint(name))
        assert found is not None and found.name == name
    assert schema_by_fingerprint(bytes(8)) is None


def test_wire_schema_has_no_logical_types_but_parsed_keeps_them() -> None:
    info = schema_info("Decision")
    assert "logicalType" not in json.dumps(info.wire)
    assert '"logicalType": "timestamp-millis"' in json.dumps(info.parsed)


def test_unknown_schema_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSchemaError) as caught:
        schema_info("actionevent")
    assert isinstance(caught.value, ClearanceError)
    assert "'actionevent'" in str(caught.value)
    assert "ActionEvent, Approval" in str(caught.value)


def test_file_whose_record_name_differs_is_refused() -> None:
    text = json.dumps({"type": "record", "name": "Other", "namespace": "x", "fields": []})
    with pytest.raises(UnknownSchemaError, match=r"Thing\.avsc: declares record 'x\.Other'"):
        _load("Thing.avsc", text)


@pytest.mark.parametrize(
    "text", ["{not json", '{"type": "record", "name": "Thing"}', '"string"', '{"type": "nope"}']
)
def test_broken_schema_file_is_refused_with_its_name(text: str) -> None:
    with pytest.raises(UnknownSchemaError, match=r"Thing\.avsc"):
        _load("Thing.avsc", text)
