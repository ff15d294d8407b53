"""A seeded generator of realistic action events, for the demo, the tests and the benchmarks.

The mix resembles an organisation where agents and pipelines do most of the work: many reads,
some writes, occasional exports, privilege grants and production infrastructure changes, and
the rare destructive action. Same seed, same events.
"""

from __future__ import annotations

import random
import time
import uuid
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

    def event(self, now_ms: int | None = None) -> dict[str, Any]:
        """One event."""
        r = self._random
        prefix, kind, roles, delegated = r.choice(_PRINCIPALS)
        number = r.randrange(self.principals_per_kind)
        action = r.choices(self._actions, self._weights)[0]
        resource_type = self._resource_types[action]
        environment = r.choice(_ENVIRONMENTS)
        sensitivity = r.choice(_SENSITIVITY)
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
                "id": f"{prefix}-{number}",
                "type": kind,
                "roles": list(roles),
                "on_behalf_of": on_behalf_of,
            },
            "action": action,
            "resource": {
                "type": resource_type,
                "id": f"{resource_type}-{r.randrange(50)}",
                "environment": environment,
                "sensitivity": sensitivity,
            },
            "session_id": f"s-{prefix}-{number}-{r.randrange(4)}",
            "source": f"10.{r.randrange(4)}.{r.randrange(8)}.{r.randrange(250)}",
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
