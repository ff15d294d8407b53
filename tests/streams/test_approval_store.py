"""The approvals state's records: what a batch writes, and reading them back."""

from __future__ import annotations

from typing import Any

from clearance.approvals import Keyring
from clearance.rules import DEFAULT_PACK_PATH, compile_pack, load_pack
from clearance.schemas import Codec
from clearance.streams.approval_state import ApprovalState
from clearance.streams.approval_store import MemoryApprovalStore, TableApprovalStore
from clearance.streams.decide import Decider, InputMessage, TopicNames

from .test_approval_state import KEY, _approve

PRINCIPAL = {"id": "agent:etl", "type": "agent", "roles": [], "on_behalf_of": "user:alice"}
RESTRICTED = {"type": "dataset", "id": "c", "environment": "prod", "sensitivity": "restricted"}


class RecordingStore(MemoryApprovalStore):
    """The memory store, keeping a log of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, ...]] = []

    def save_principal(self, principal_id: str, partition: int, record: Any) -> None:
        self.writes.append(("principal", principal_id))
        super().save_principal(principal_id, partition, record)

    def save_escalation(
        self, principal_id: str, partition: int, escalation_id: str, record: Any
    ) -> None:
        self.writes.append(("escalation", principal_id, escalation_id))
        super().save_escalation(principal_id, partition, escalation_id, record)


def _decider(store: Any) -> tuple[Decider, ApprovalState]:
    state = ApprovalState(Keyring({"api": KEY.public_key}), store)
    policy = compile_pack(load_pack(DEFAULT_PACK_PATH))
    return Decider(policy, TopicNames.with_prefix("t."), "json", approvals=state), state


def _escalate(decider: Decider, state: ApprovalState, count: int, start: int = 0) -> list[str]:
    """Decide ``count`` restricted exports in one batch, flush; the escalation ids."""
    codec = Codec("ActionEvent")
    batch = [
        InputMessage(
            "t.actions",
            0,
            start + i,
            b"agent:etl",
            codec.encode(
                {
                    "event_id": f"e-{start + i}",
                    "occurred_at": 1_795_428_000_000 + start + i,
                    "principal": PRINCIPAL,
                    "action": "data.export",
                    "resource": RESTRICTED,
                    "session_id": None,
                    "context": {},
                },
                "json",
            ),
            1_795_428_000_000,
        )
        for i in range(count)
    ]
    outputs = decider.decide_batch(batch)
    decisions = [Codec("Decision").decode(o.value) for o in outputs if o.topic == "t.decisions"]
    state.flush()
    return [d["escalation_id"] for d in decisions if d.get("effect") == "escalate"]


def test_a_batch_writes_the_escalations_it_opened_and_not_the_open_ones_before() -> None:
    store = RecordingStore()
    decider, state = _decider(store)
    first = _escalate(decider, state, 50)
    assert len(first) == 50
    # The new principal's record, once, and each escalation once.
    assert sorted(store.writes) == sorted(
        [("principal", "agent:etl")] + [("escalation", "agent:etl", e) for e in first]
    )
    store.writes.clear()
    second = _escalate(decider, state, 1, start=50)
    assert store.writes == [("escalation", "agent:etl", second[0])]
    # A verdict writes the escalation it counted, and the principal's record for the grant.
    store.writes.clear()
    outcome, _, grant = _approve(state, first[7], 1_795_428_100_000)
    state.flush()
    assert outcome.decided and grant is not None
    assert sorted(store.writes) == [
        ("escalation", "agent:etl", first[7]),
        ("principal", "agent:etl"),
    ]


def test_a_verdict_for_a_principal_without_state_writes_nothing() -> None:
    store = RecordingStore()
    _, state = _decider(store)
    outcome, escalation, grant = state.apply(
        "agent:nobody", 0, {"approval_id": "a-x", "escalation_id": "e-x"}, 1_795_428_000_000
    )
    state.flush()
    assert (escalation, grant) == (None, None) and not outcome.accepted
    assert store.writes == []


def test_a_new_owner_reads_back_escalations_and_grants() -> None:
    store = MemoryApprovalStore()
    decider, state = _decider(store)
    ids = _escalate(decider, state, 3)
    _, _, grant = _approve(state, ids[0], 1_795_428_100_000)
    state.flush()
    assert grant is not None
    assert "escalations" not in store.principals["agent:etl"]

    successor = ApprovalState(Keyring({"api": KEY.public_key}), store)
    pending = successor.pending(["agent:etl"])
    assert sorted(s.escalation_id for s in pending) == sorted(ids[1:])
    found = successor.find(["agent:etl"], ids[0])
    assert found is not None and found[1].status == "approved"
    live = successor.active_grants(["agent:etl"], {0}, 1_795_428_100_001)
    assert [g.grant_id for _, _, g, _ in live] == [grant.grant_id]


def test_pruned_escalations_are_removed_from_the_store() -> None:
    store = MemoryApprovalStore()
    decider, state = _decider(store)
    ids = _escalate(decider, state, 2)
    expiry = max(s.expires_at for s in state.pending(["agent:etl"]))
    expired, _ = state.due(["agent:etl"], {0}, expiry)
    assert sorted(s.escalation_id for s, _ in expired) == sorted(ids)
    state.flush()
    assert {r["status"] for r in store.escalation_records["agent:etl"].values()} == {"expired"}
    state.due(["agent:etl"], {0}, expiry + 2 * 24 * 3600 * 1000)
    state.flush()
    assert store.escalation_records["agent:etl"] == {}


def test_a_record_with_escalations_inside_is_read_and_rewritten_as_records() -> None:
    old = MemoryApprovalStore()
    decider, state = _decider(old)
    ids = _escalate(decider, state, 2)
    # The earlier layout: the whole book under the principal's key.
    books = state.books("agent:etl", 0)
    legacy = {
        "partition": 0,
        "escalations": books.escalations.to_dict(),
        "grants": books.grants.to_dict(),
    }
    store = RecordingStore()
    store.principals["agent:etl"] = legacy
    successor = ApprovalState(Keyring({"api": KEY.public_key}), store)
    assert sorted(s.escalation_id for s in successor.pending(["agent:etl"])) == sorted(ids)
    successor.flush()
    assert sorted(store.writes) == sorted(
        [("principal", "agent:etl")] + [("escalation", "agent:etl", e) for e in ids]
    )
    assert "escalations" not in store.principals["agent:etl"]
    assert sorted(store.escalation_records["agent:etl"]) == sorted(ids)


class KeyedDict:
    """Keyed state over a dict, as :class:`~clearance.streams.state.ChangelogState` offers it."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self.data.get(key)

    def put(self, partition: int, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, partition: int, key: str) -> None:
        self.data.pop(key, None)

    def keys(self) -> list[str]:
        return list(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_table_store_finds_each_principals_escalations_and_sees_recovered_ones() -> None:
    principals, escalations = KeyedDict(), KeyedDict()
    store = TableApprovalStore(principals, escalations)
    odd = "agent:with\x1fseparator"
    store.save_principal(odd, 1, {"partition": 1, "grants": {}})
    store.save_escalation(odd, 1, "e-1", {"n": 1})
    store.save_escalation("agent:b", 0, "e-2", {"n": 2})
    assert store.escalations(odd) == {"e-1": {"n": 1}}
    assert store.escalations("agent:b") == {"e-2": {"n": 2}}
    assert store.principal_ids() == [odd]
    store.save_escalation("agent:b", 0, "e-2", None)
    assert store.escalations("agent:b") == {}
    # A recovery writes to the table behind the store's back: the index follows.
    escalations.data["agent:b\x1fe-3"] = {"n": 3}
    assert store.escalations("agent:b") == {"e-3": {"n": 3}}
    escalations.data.pop(odd + "\x1fe-1")
    escalations.data["agent:c\x1fe-4"] = {"n": 4}
    store.invalidate()
    assert store.escalations(odd) == {}
    assert store.escalations("agent:c") == {"e-4": {"n": 4}}


def test_books_read_again_after_a_recovery_keep_unflushed_changes() -> None:
    store = MemoryApprovalStore()
    decider, state = _decider(store)
    first, second = _escalate(decider, state, 2)
    # A recovery brings a newer record of one escalation than the one in memory.
    record = dict(store.escalation_records["agent:etl"][first])
    record["status"] = "denied"
    store.escalation_records["agent:etl"][first] = record
    state.forget_unchanged()
    found = state.find(["agent:etl"], first)
    assert found is not None and found[1].status == "denied"
    # Books with a change not yet flushed stay as they are.
    _escalate(decider, state, 1, start=10)
    state.books("agent:etl", 0)
    dirty = state._books["agent:etl"]
    state._changed("agent:etl", second)
    state.forget_unchanged()
    assert state._books["agent:etl"] is dirty
