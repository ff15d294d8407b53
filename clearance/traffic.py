"""A seeded generator of realistic action events, for the demo, the tests and the benchmarks.

The mix resembles an organisation where agents and pipelines do most of the work: many reads,
some writes, occasional exports, privilege grants and production infrastructure changes, and
the rare destructive action. Each principal has habits, as real ones do: a working set of a
few resources of each type, drawn from its role's, and one or two source addresses; 3% of
its actions touch another resource of its role and 1% come from a new address. A resource
keeps its classification. Same seed, same events.
"""

from __future__ import annotations

import random
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

__all__ = ["TrafficGenerator", "malformed_messages"]

_PRINCIPALS = [
    # (id prefix, type, roles, acts for a human?)
    ("agent:etl", "agent", ["data-engineer"], True),
    ("agent:support-bot", "agent", ["support"], True),
    ("agent:deployer", "agent", ["sre"], True),
    ("pipeline:nightly", "pipeline", ["data-engineer"], False),
    ("svc:billing", "service", ["billing"], False),
    ("user:analyst", "human", ["analyst", "data-reader-confidential"], False),
    ("user:sre", "human", ["sre"], False),
    ("user:admin", "human", ["security-admin"], False),
]

# (action, resource type, weight)
_ACTIONS = [
    ("data.read", "dataset", 55),
    ("data.write", "dataset", 12),
    ("data.export", "dataset", 6),
    ("iam.role.grant", "iam_role", 3),
    ("infra.cluster.describe", "cluster", 8),
    ("infra.cluster.scale", "cluster", 5),
    ("infra.cluster.delete", "cluster", 1),
    ("infra.network.update", "network", 3),
    ("model.deploy", "model", 3),
    ("secrets.read", "secret", 4),
]
_ENVIRONMENTS = (["dev"] * 3) + (["staging"] * 2) + (["prod"] * 5)
_SENSITIVITY = ["public", "internal", "internal", "confidential", "restricted"]
_RESOURCES_PER_TYPE = 50
_ROLE_POOL = 12
_WORKING_SET = 6
_EXPLORE = 0.03
_NEW_SOURCE = 0.01


def _sensitivity(resource_type: str, number: int) -> str:
    """A resource's classification: fixed for the resource, like a data catalogue's."""
    return _SENSITIVITY[zlib.crc32(f"{resource_type}-{number}".encode()) % len(_SENSITIVITY)]


def _role_pools(seed: int, roles: list[str]) -> dict[str, list[int]]:
    """The resources of each type a role works with (its members' working sets come from here)."""
    r = random.Random(f"{seed}:{','.join(roles)}")
    return {t: r.sample(range(_RESOURCES_PER_TYPE), _ROLE_POOL) for _, t, _ in _ACTIONS}


class _Habits:
    """One principal's working set per resource type, within its role's, and its usual
    source addresses; ``pools`` are the role's resources, where it explores."""

    def __init__(self, seed: int, principal_id: str, pools: dict[str, list[int]]) -> None:
        r = random.Random(f"{seed}:{principal_id}")
        self.pools = pools
        self.resources = {t: r.sample(pool, _WORKING_SET) for t, pool in pools.items()}
        self.sources = [
            f"10.{r.randrange(4)}.{r.randrange(8)}.{r.randrange(250)}"
            for _ in range(r.choice((1, 2)))
        ]


class TrafficGenerator:
    """Yields ActionEvent dicts (the codec's shape) from a seeded random mix.

    Parameters
    ----------
    seed:
        Random seed; the same seed gives the same sequence (event ids included).
    principals_per_kind:
        How many distinct principals of each kind to draw from.
    """

    def __init__(self, seed: int = 7, principals_per_kind: int = 20) -> None:
        self.seed = seed
        self.principals_per_kind = principals_per_kind
        self._random = random.Random(seed)
        self._actions = [a for a, _, _ in _ACTIONS]
        self._weights = [w for _, _, w in _ACTIONS]
        self._resource_types = {a: t for a, t, _ in _ACTIONS}
        self._habits: dict[str, _Habits] = {}

    def event(self, now_ms: int | None = None) -> dict[str, Any]:
        """One event."""
        r = self._random
        prefix, kind, roles, delegated = r.choice(_PRINCIPALS)
        number = r.randrange(self.principals_per_kind)
        principal_id = f"{prefix}-{number}"
        habits = self._habits.get(principal_id)
        if habits is None:
            pools = _role_pools(self.seed, roles)
            habits = self._habits[principal_id] = _Habits(self.seed, principal_id, pools)
        action = r.choices(self._actions, self._weights)[0]
        resource_type = self._resource_types[action]
        environment = r.choice(_ENVIRONMENTS)
        if r.random() < _EXPLORE:
            resource_number = r.choice(habits.pools[resource_type])
        else:
            resource_number = r.choice(habits.resources[resource_type])
        if r.random() < _NEW_SOURCE:
            source = f"10.{r.randrange(4)}.{r.randrange(8)}.{r.randrange(250)}"
        else:
            source = r.choice(habits.sources)
        on_behalf_of = f"user:owner-{number}" if delegated and r.random() < 0.9 else None
        data_bytes = int(r.lognormvariate(12, 2)) if action.startswith("data.") else None
        context: dict[str, Any] = {"purpose": r.choice(["report", "sync", "backfill", "debug"])}
        if r.random() < 0.2:
            context["ticket"] = f"CHG-{r.randrange(10_000)}"
        if r.random() < 0.005:
            context["session_compromised"] = True
        return {
            "event_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "occurred_at": now_ms if now_ms is not None else int(time.time() * 1000),
            "principal": {
                "id": principal_id,
                "type": kind,
                "roles": list(roles),
                "on_behalf_of": on_behalf_of,
            },
            "action": action,
            "resource": {
                "type": resource_type,
                "id": f"{resource_type}-{resource_number}",
                "environment": environment,
                "sensitivity": _sensitivity(resource_type, resource_number),
            },
            "session_id": f"s-{principal_id}-{r.randrange(4)}",
            "source": source,
            "data_bytes": data_bytes,
            "context": context,
        }

    def events(self, count: int) -> Iterator[dict[str, Any]]:
        """``count`` events."""
        for _ in range(count):
            yield self.event()


def malformed_messages(count: int, seed: int = 11) -> Iterator[tuple[bytes, str]]:
    """Bad input of every kind Clearance must dead-letter, with the reason code expected."""
    r = random.Random(seed)
    good = b'{"event_id":"e","occurred_at":1,"principal":{"id":"p","type":"agent"},'
    kinds: list[tuple[str, Any]] = [
        ("undecodable", lambda: bytes(r.getrandbits(8) for _ in range(r.randrange(1, 64)))),
        ("undecodable", lambda: good[: r.randrange(5, len(good))]),
        ("registry_framing", lambda: b"\x00" + r.randrange(1, 999).to_bytes(4, "big") + b"xx"),
        ("unknown_schema", lambda: b"\xc3\x01" + r.getrandbits(64).to_bytes(8, "little") + b"x"),
        ("missing_field", lambda: b'{"event_id":"e-%d"}' % r.randrange(1_000_000)),
        (
            "invalid_value",
            lambda: (
                b'{"event_id":"e","occurred_at":1,"principal":{"id":"p","type":"robot"},'
                b'"action":"a","resource":{"type":"t","id":"i","environment":"prod"}}'
            ),
        ),
        ("empty", lambda: b""),
    ]
    for _ in range(count):
        reason_code, make = r.choice(kinds)
        value = make()
        if reason_code == "undecodable" and value[:1] in (b"\x00", b"\xc3", b"{", b" "):
            value = b"\xff" + value  # keep random bytes from looking like a known framing
        yield value, reason_code
