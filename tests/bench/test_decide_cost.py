from clearance.bench._produce import partition_for
from clearance.bench.decide_cost import _messages


def test_partition_for_matches_the_producers_partitioner() -> None:
    # Partitions librdkafka's default partitioner chose for these keys on a 4-partition topic
    # (confluent-kafka Producer, mock cluster).
    chosen = {
        b"agent:deployer-0": 2,
        b"agent:deployer-1": 0,
        b"user:alice": 2,
        b"svc:billing": 1,
        b"agent:deployer-17": 2,
    }
    assert {key: partition_for(key) for key in chosen} == chosen


def test_each_principal_stays_on_one_partition() -> None:
    partitions: dict[bytes | None, set[int]] = {}
    for message in _messages(500):
        partitions.setdefault(message.key, set()).add(message.partition)
    assert all(len(seen) == 1 for seen in partitions.values())
    assert {p for seen in partitions.values() for p in seen} == {0, 1, 2, 3}
