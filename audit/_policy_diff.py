"""Shadow against enforced: where a candidate pack decides differently, how often, examples."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from clearance.audit._errors import AuditQueryError
from clearance.audit._query import query
from clearance.audit._schema import DECISIONS_TABLE, SHADOW_DECISIONS_TABLE

__all__ = ["PolicyDiff", "policy_diff"]

_VERSION = re.compile(r"^[A-Za-z0-9:+._-]+$")


@dataclass
class PolicyDiff:
    """The comparison of one shadow version with the decisions enforced on the same events."""

    shadow_version: str
    compared: int
    differing: int
    #: (enforced effect, shadow effect, action, count, example event ids)
    changes: list[tuple[str, str, str, int, list[str]]] = field(default_factory=list)

    def render(self) -> str:
        """A short report for the terminal."""
        if not self.compared:
            return f"shadow {self.shadow_version}: no events compared yet"
        share = 100.0 * self.differing / self.compared
        lines = [
            f"shadow {self.shadow_version}: {self.differing} of {self.compared} events decided "
            f"differently ({share:.2f}%)"
        ]
        for enforced, shadow, action, count, examples in self.changes:
            lines.append(f"  {enforced} -> {shadow}  {action}: {count}  e.g. {', '.join(examples)}")
        return "\n".join(lines)


def _latest_version(dsn: str) -> str:
    result = query(
        f"SELECT policy_version FROM {SHADOW_DECISIONS_TABLE} ORDER BY decided_at DESC LIMIT 1",
        dsn,
    )
    if not result.rows:
        raise AuditQueryError(
            "no shadow decisions recorded. Fix: push a candidate with "
            "`clearance policy push --shadow PATH` and let traffic flow"
        )
    return str(result.rows[0][0])


def policy_diff(dsn: str, version: str | None = None, examples: int = 3) -> PolicyDiff:
    """Compare the shadow decisions of ``version`` (the latest shadow when None) with the
    enforced decisions of the same events."""
    version = version or _latest_version(dsn)
    if not _VERSION.match(version):
        raise AuditQueryError(f"{version!r} is not a policy version. Fix: pass sha256:...")
    joined = f"""
        FROM (SELECT event_id, effect, action FROM {SHADOW_DECISIONS_TABLE} FINAL
              WHERE policy_version = '{version}') AS s
        INNER JOIN (SELECT event_id, effect FROM {DECISIONS_TABLE} FINAL
                    WHERE event_kind = 'action') AS d
        ON s.event_id = d.event_id
    """
    totals = query(f"SELECT count(), countIf(s.effect != d.effect) {joined}", dsn).rows
    compared, differing = (int(totals[0][0]), int(totals[0][1])) if totals else (0, 0)
    rows: list[list[Any]] = query(
        f"SELECT d.effect, s.effect, s.action, count() AS n, "
        f"arraySlice(groupArray(s.event_id), 1, {int(examples)}) {joined} "
        "WHERE s.effect != d.effect GROUP BY d.effect, s.effect, s.action ORDER BY n DESC",
        dsn,
    ).rows
    changes = [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), [str(e) for e in r[4]]) for r in rows]
    return PolicyDiff(version, compared, differing, changes)
