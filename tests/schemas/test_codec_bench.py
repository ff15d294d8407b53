"""Micro-benchmarks of the codec hot path (pytest-benchmark, group "codec").

Run: .venv/bin/pytest tests/schemas/test_codec_bench.py --benchmark-enable
"""

from __future__ import annotations

from typing import Any

import pytest

from clearance.schemas import Codec

ACTIONS = Codec("ActionEvent")
DECISIONS = Codec("Decision")


@pytest.mark.benchmark(group="codec")
def test_decode_action_event_avro(benchmark: Any, action_event: dict) -> None:
    data = ACTIONS.encode(action_event)
    assert benchmark(ACTIONS.decode, data) == action_event


@pytest.mark.benchmark(group="codec")
def test_decode_action_event_json(
    benchmark: Any, action_event: dict, action_event_json: bytes
) -> None:
    assert benchmark(ACTIONS.decode, action_event_json) == action_event


@pytest.mark.benchmark(group="codec")
def test_encode_action_event_avro(benchmark: Any, action_event: dict) -> None:
    data = benchmark(ACTIONS.encode, action_event)
    assert ACTIONS.decode(data) == action_event


@pytest.mark.benchmark(group="codec")
def test_decode_decision_avro(benchmark: Any, records: dict) -> None:
    data = DECISIONS.encode(records["Decision"])
    assert benchmark(DECISIONS.decode, data) == records["Decision"]


@pytest.mark.benchmark(group="codec")
def test_encode_decision_avro(benchmark: Any, records: dict) -> None:
    data = benchmark(DECISIONS.encode, records["Decision"])
    assert DECISIONS.decode(data) == records["Decision"]


@pytest.mark.benchmark(group="codec")
def test_encode_decision_json(benchmark: Any, records: dict) -> None:
    data = benchmark(DECISIONS.encode, records["Decision"], "json")
    assert DECISIONS.decode(data) == records["Decision"]
