"""A seeded, replayable access workload: principals with habits, plus injected insider behaviour.

:func:`generate_workload` returns ActionEvent dicts in occurred_at order, one label per event
(None for normal behaviour, else the incident kind) and the start of the test period. The same
seed gives the same events.

Normal behaviour, per role (analyst, data-engineer, finance, hr, sre as humans;
support-agent as AI agents acting for a human; etl as pipelines):

* humans work weekdays in their own time zone (UTC-5 to UTC+5:30) from a personal start hour,
  in one to three sessions of Poisson-many actions about a minute apart, from one or two
  sources; each has a personal working set (about half its role's resources, Zipf-weighted)
  and personal action weights around the role's;
* agents work round the clock in small tasks every 20 minutes or so; pipelines run hourly at
  a fixed minute, a dozen quick reads and writes each;
* data volumes are log-normal per action.

Benign noise keeps it from being trivial: 3% of human actions touch another resource of the
role (often a first access, sometimes to a confidential one), 1% of sessions come from a new
source, 5% of working days end with a late session, 1% of exports are ten times larger than
usual, and two principals join during the test period.

Incidents, injected only in the test period (``incidents`` of each kind):

``privilege_misuse``
    A human, in working hours, grants roles, edits policies, reads secrets and other
    departments' restricted data: actions and resources foreign to its role.
``mass_export``
    A human exports 15-40 datasets within minutes, each 30-300 times its usual volume.
``off_hours_sensitive``
    A human, between 01:00 and 04:30 local time, reads confidential and restricted resources
    it never touched: half its peers use, half foreign to its role.
``compromised_agent``
    An agent's token used from a new source: 60-150 actions within minutes, mixing its usual
    reads with exports, key creation and secret reads on resources foreign to its role.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clearance.detectors._catalogue import (
    CROWN_JEWELS,
    ROLES,
    SENSITIVITIES,
    TIME_ZONES,
    VOLUMES,
    Role,
)
from clearance.detectors.errors import DetectorError

__all__ = ["INCIDENT_KINDS", "Workload", "generate_workload"]

INCIDENT_KINDS = ("privilege_misuse", "mass_export", "off_hours_sensitive", "compromised_agent")

_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday
_MIN = 60_000
_HOUR = 3_600_000
_DAY = 86_400_000


@dataclass
class _Principal:
    pid: str
    role: str
    kind: str
    offset_hours: float
    start_hour: float
    sources: list[str]
    working_set: list[dict[str, str]]
    set_weights: list[float]
    actions: list[str]
    action_weights: list[float]
    on_behalf_of: str | None = None
    minute: int = 0
    joined_day: int = 0


@dataclass
class Workload:
    """A generated workload.

    Attributes
    ----------
    events
        ActionEvent dicts in occurred_at order.
    labels
        Per event: None for normal behaviour, else an incident kind from INCIDENT_KINDS.
    test_start_ms
        occurred_at where the test period starts (incidents happen only after it).
    seed
        The seed that generated it.
    principals
        Principal id to role, for every principal of the workload.
    """

    events: list[dict[str, Any]]
    labels: list[str | None]
    test_start_ms: int
    seed: int
    principals: dict[str, str] = field(default_factory=dict)

    def split(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str | None]]:
        """Return (history events, test events, test labels)."""
        cut = next(
            (i for i, e in enumerate(self.events) if e["occurred_at"] >= self.test_start_ms),
            len(self.events),
        )
        return self.events[:cut], self.events[cut:], self.labels[cut:]


class _Generator:
    def __init__(self, seed: int, days: int, test_days: int, incidents: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.days = days
        self.test_start_day = days - test_days
        self.incidents = incidents
        self.out: list[tuple[int, int, dict[str, Any], str | None]] = []
        self.counter = 0
        self.pools = {name: self._pool(name, role) for name, role in ROLES.items()}
        self.principals: list[_Principal] = []

    def _pool(self, name: str, role: Role) -> list[dict[str, str]]:
        resources = []
        for rtype, prefix, count, weights in role.pools:
            for i in range(count):
                sensitivity = self.rng.choices(SENSITIVITIES, weights)[0]
                env = "prod" if self.rng.random() < 0.8 else "staging"
                resources.append(
                    {
                        "type": rtype,
                        "id": f"{prefix}.{rtype}{i:02d}",
                        "environment": env,
                        "sensitivity": sensitivity,
                    }
                )
        return resources

    def _principal(self, role_name: str, index: int, joined_day: int = 0) -> _Principal:
        role = ROLES[role_name]
        rng = self.rng
        pid = f"{role_name}-{index:02d}"
        pool = self.pools[role_name]
        size = max(3, int(len(pool) * rng.uniform(0.35, 0.6)))
        working_set = rng.sample(pool, size)
        set_weights = [1.0 / (rank + 1) for rank in range(size)]
        actions = list(role.actions)
        action_weights = [w * rng.uniform(0.5, 1.5) for w in role.actions.values()]
        if role.kind == "human":
            sources = [f"laptop-{pid}"]
            if rng.random() < 0.5:
                sources.append(f"vpn-{rng.randrange(1, 9)}")
            offset = rng.choice(TIME_ZONES)
        else:
            sources = [f"{role.kind}-host-{rng.randrange(1, 5)}"]
            offset = 0.0
        return _Principal(
            pid=pid,
            role=role_name,
            kind=role.kind,
            offset_hours=offset,
            start_hour=rng.uniform(7.5, 10.0),
            sources=sources,
            working_set=working_set,
            set_weights=set_weights,
            actions=actions,
            action_weights=action_weights,
            on_behalf_of=f"owner-{rng.randrange(1, 20):02d}" if role.kind == "agent" else None,
            minute=rng.randrange(0, 60),
            joined_day=joined_day,
        )

    def _emit(
        self,
        p: _Principal,
        ms: int,
        action: str,
        resource: dict[str, str],
        source: str,
        label: str | None,
        volume_factor: float = 1.0,
        session: str | None = None,
    ) -> None:
        spec = VOLUMES.get(action)
        data_bytes = None
        if spec is not None:
            median, sigma = spec
            data_bytes = int(median * volume_factor * math.exp(self.rng.gauss(0.0, sigma)))
        self.counter += 1
        event = {
            "event_id": f"w{self.seed}-{self.counter:07d}",
            "occurred_at": int(ms),
            "principal": {
                "id": p.pid,
                "type": p.kind,
                "roles": [p.role],
                "on_behalf_of": p.on_behalf_of,
            },
            "action": action,
            "resource": dict(resource),
            "session_id": session,
            "source": source,
            "data_bytes": data_bytes,
            "context": {},
        }
        self.out.append((int(ms), self.counter, event, label))

    def _normal_action(self, p: _Principal) -> tuple[str, dict[str, str]]:
        rng = self.rng
        action = rng.choices(p.actions, p.action_weights)[0]
        if p.kind == "human" and rng.random() < 0.03:
            resource = rng.choice(self.pools[p.role])
        else:
            resource = rng.choices(p.working_set, p.set_weights)[0]
        return action, resource

    def _session(self, p: _Principal, start_ms: int, n: int, gap_s: float, source: str) -> None:
        ms = start_ms
        session = f"s-{p.pid}-{start_ms // _MIN}"
        for _ in range(n):
            action, resource = self._normal_action(p)
            factor = 10.0 if action == "data.export" and self.rng.random() < 0.01 else 1.0
            self._emit(p, ms, action, resource, source, None, factor, session)
            ms += int(self.rng.expovariate(1.0 / gap_s) * 1000) + 1000

    def _human_day(self, p: _Principal, day: int) -> None:
        rng = self.rng
        local_midnight = _EPOCH_MS + day * _DAY - int(p.offset_hours * _HOUR)
        weekend = day % 7 >= 5
        if rng.random() > (0.06 if weekend else 0.92):
            return
        source = p.sources[0] if len(p.sources) == 1 or rng.random() < 0.7 else p.sources[1]
        if rng.random() < 0.01:
            source = f"travel-{p.pid}-{day}"
        for _ in range(rng.choice((1, 2, 2, 3))):
            start_h = p.start_hour + rng.uniform(0.0, 7.5)
            n = 3 + self._poisson(15)
            self._session(p, local_midnight + int(start_h * _HOUR), n, 60.0, source)
        if rng.random() < 0.05:
            start_h = rng.uniform(19.0, 22.5)
            self._session(
                p, local_midnight + int(start_h * _HOUR), 3 + self._poisson(6), 60.0, source
            )

    def _agent_day(self, p: _Principal, day: int) -> None:
        ms = _EPOCH_MS + day * _DAY + int(self.rng.uniform(0, 20) * _MIN)
        end = _EPOCH_MS + (day + 1) * _DAY
        while ms < end:
            self._session(p, ms, self.rng.randint(3, 8), 8.0, p.sources[0])
            ms += int(self.rng.expovariate(1.0 / 20.0) * _MIN) + _MIN

    def _pipeline_day(self, p: _Principal, day: int) -> None:
        for hour in range(24):
            start = _EPOCH_MS + day * _DAY + hour * _HOUR + p.minute * _MIN
            start += int(self.rng.uniform(-30, 30) * 1000)
            self._session(p, start, self.rng.randint(8, 15), 2.0, p.sources[0])

    def _poisson(self, lam: float) -> int:
        # Knuth's method is fine for the small means used here.
        limit, k, prod = math.exp(-lam), 0, self.rng.random()
        while prod > limit:
            k += 1
            prod *= self.rng.random()
        return k

    def build(self) -> None:
        for role_name, role in ROLES.items():
            for i in range(role.count):
                self.principals.append(self._principal(role_name, i))
        for i, role_name in enumerate(("analyst", "data-engineer")):
            joined = self.test_start_day + 1 + i * 2
            self.principals.append(self._principal(role_name, 90 + i, joined_day=joined))
        for p in self.principals:
            for day in range(p.joined_day, self.days):
                if p.kind == "human":
                    self._human_day(p, day)
                elif p.kind == "agent":
                    self._agent_day(p, day)
                else:
                    self._pipeline_day(p, day)
        for kind in INCIDENT_KINDS:
            for _ in range(self.incidents):
                getattr(self, f"_incident_{kind}")()

    # -- incidents -------------------------------------------------------------------------

    def _victim(self, kinds: Sequence[str], roles: Sequence[str] | None = None) -> _Principal:
        candidates = [
            p
            for p in self.principals
            if p.kind in kinds and p.joined_day == 0 and (roles is None or p.role in roles)
        ]
        return self.rng.choice(candidates)

    def _test_day(self, weekday: bool = True) -> int:
        while True:
            day = self.rng.randrange(self.test_start_day, self.days)
            if not weekday or day % 7 < 5:
                return day

    def _foreign_resources(self, p: _Principal) -> list[dict[str, str]]:
        foreign = [
            r
            for name, pool in self.pools.items()
            if name != p.role
            for r in pool
            if r["sensitivity"] in ("confidential", "restricted")
        ]
        jewels = [
            {"type": t, "id": i, "environment": "prod", "sensitivity": s}
            for t, i, s in CROWN_JEWELS
        ]
        return foreign + jewels

    def _incident_privilege_misuse(self) -> None:
        rng = self.rng
        p = self._victim(("human",))
        day = self._test_day()
        ms = (
            _EPOCH_MS
            + day * _DAY
            - int(p.offset_hours * _HOUR)
            + int((p.start_hour + rng.uniform(1.0, 6.0)) * _HOUR)
        )
        foreign = self._foreign_resources(p)
        actions = [
            "iam.role.grant",
            "iam.policy.update",
            "data.delete",
            "admin.user.create",
            "secrets.read",
            "data.read",
            "data.read",
        ]
        for _ in range(rng.randint(6, 12)):
            self._emit(
                p, ms, rng.choice(actions), rng.choice(foreign), p.sources[0], "privilege_misuse"
            )
            ms += int(rng.uniform(30, 300) * 1000)

    def _incident_mass_export(self) -> None:
        rng = self.rng
        p = self._victim(("human",), ("analyst", "finance", "data-engineer"))
        day = self._test_day()
        ms = (
            _EPOCH_MS
            + day * _DAY
            - int(p.offset_hours * _HOUR)
            + int((p.start_hour + rng.uniform(0.5, 7.0)) * _HOUR)
        )
        for _ in range(rng.randint(15, 40)):
            resource = rng.choice(p.working_set if rng.random() < 0.7 else self.pools[p.role])
            self._emit(
                p,
                ms,
                "data.export",
                resource,
                p.sources[0],
                "mass_export",
                volume_factor=rng.uniform(30.0, 300.0),
            )
            ms += int(rng.uniform(3, 25) * 1000)

    def _incident_off_hours_sensitive(self) -> None:
        rng = self.rng
        p = self._victim(("human",))
        day = self._test_day(weekday=False)
        ms = (
            _EPOCH_MS
            + day * _DAY
            - int(p.offset_hours * _HOUR)
            + int(rng.uniform(1.0, 4.5) * _HOUR)
        )
        own = [r["id"] for r in p.working_set]
        peer_sensitive = [
            r
            for r in self.pools[p.role]
            if r["sensitivity"] in ("confidential", "restricted") and r["id"] not in own
        ]
        foreign = self._foreign_resources(p)
        for i in range(rng.randint(5, 12)):
            pool = peer_sensitive if (i % 2 == 0 and peer_sensitive) else foreign
            self._emit(p, ms, "data.read", rng.choice(pool), p.sources[0], "off_hours_sensitive")
            ms += int(rng.expovariate(1.0 / 60.0) * 1000) + 1000

    def _incident_compromised_agent(self) -> None:
        rng = self.rng
        p = self._victim(("agent",))
        day = self._test_day(weekday=False)
        ms = _EPOCH_MS + day * _DAY + int(rng.uniform(0.0, 24.0) * _HOUR)
        source = f"203.0.113.{rng.randrange(1, 255)}"
        foreign = self._foreign_resources(p)
        unusual = ["data.export", "iam.key.create", "secrets.read", "data.export"]
        n = rng.randint(60, 150)
        for _ in range(n):
            if rng.random() < 0.5:
                action, resource = self._normal_action(p)
            else:
                action = rng.choice(unusual)
                resource = rng.choice(foreign) if rng.random() < 0.5 else rng.choice(p.working_set)
            self._emit(p, ms, action, resource, source, "compromised_agent", volume_factor=5.0)
            ms += int(rng.uniform(0.5, 4.0) * 1000)


def generate_workload(
    seed: int = 0, days: int = 28, test_days: int = 7, incidents: int = 5
) -> Workload:
    """Generate a seeded access workload with insider incidents in its last ``test_days``.

    Parameters
    ----------
    seed
        Seed of every random draw; the same seed gives the same workload.
    days
        Length of the workload in days (starting Monday 2024-01-01 UTC).
    test_days
        Length of the test period at the end; incidents and new joiners fall inside it.
    incidents
        Incidents of each kind (0 for a clean workload).

    Returns
    -------
    Workload
        Events in occurred_at order with their labels.
    """
    if not 0 < test_days < days:
        raise DetectorError(
            f"generate_workload: test_days={test_days} must be between 1 and days - 1 "
            f"({days - 1}). Fix: shorten the test period or lengthen the workload."
        )
    generator = _Generator(seed, days, test_days, incidents)
    generator.build()
    generator.out.sort(key=lambda item: (item[0], item[1]))
    return Workload(
        events=[item[2] for item in generator.out],
        labels=[item[3] for item in generator.out],
        test_start_ms=_EPOCH_MS + generator.test_start_day * _DAY,
        seed=seed,
        principals={p.pid: p.role for p in generator.principals},
    )
