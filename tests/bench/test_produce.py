"""The benchmark's input events."""

from __future__ import annotations

from clearance.bench._produce import encode_events
from clearance.schemas import Codec


def test_events_are_seeded_avro_and_keyed_by_principal() -> None:
    first, again = encode_events(300, seed=5), encode_events(300, seed=5)
    # Same seed, same events (occurred_at aside: the generator stamps the current time).
    assert first.event_ids == again.event_ids
    assert [key for key, _ in first.messages] == [key for key, _ in again.messages]
    assert len(first.messages) == len(first.event_ids) == 300
    codec = Codec("ActionEvent")
    for key, value in first.messages:
        assert value[:2] == b"\xc3\x01"
        event = codec.decode(value)
        assert key == event["principal"]["id"].encode()
        assert event["event_id"] in first.event_ids
    assert encode_events(300, seed=6).event_ids.isdisjoint(first.event_ids)
