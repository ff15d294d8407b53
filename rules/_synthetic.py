"""Generated policy packs of any size, for benchmarks and scale tests.

Rules are spread over namespaces ``svc<N>`` of five rules each -- an exact action, a
namespace glob limited to prod, a deeper glob, a role check and an escalation -- plus two
pack-wide rules, like a real pack that grows by teams adding their own services.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["synthetic_event", "synthetic_pack"]

_HEADER = """\
pack:
  name: synthetic-{n}
  default_effect: deny
lists:
  sensitive_levels: [confidential, restricted]
  open_levels: [public, internal]
macros:
  unattended_agent: principal.type == "agent" && principal.on_behalf_of == null
rules:
  - id: global.session.compromised.revoke
    description: A compromised session loses every grant.
    match: {{actions: ["*"]}}
    condition: has(context.session_compromised) && context.session_compromised == true
    effect: revoke
    severity: critical
  - id: global.anomaly.approval
    description: High detector scores need an analyst.
    match: {{actions: ["*"]}}
    condition: has(detectors.access) && detectors.access.score >= 0.9
    effect: escalate
    severity: high
    approval: {{roles: [security-analyst]}}
"""

_TEMPLATES = (
    """\
  - id: svc{ns}.export.sensitive.approval
    description: Sensitive exports from svc{ns} need a steward.
    match: {{actions: [svc{ns}.data.export]}}
    condition: resource.sensitivity in lists.sensitive_levels
    effect: escalate
    severity: high
    approval: {{roles: [data-steward], timeout: 30m}}
""",
    """\
  - id: svc{ns}.prod.unattended.deny
    description: Unattended agents may not act on restricted svc{ns} data in prod.
    match: {{actions: ["svc{ns}.*"], environments: [prod]}}
    condition: unattended_agent && resource.sensitivity == "restricted"
    effect: deny
    severity: high
""",
    """\
  - id: svc{ns}.data.open.allow
    description: Open svc{ns} data passes.
    match: {{actions: ["svc{ns}.data.*"]}}
    condition: resource.sensitivity in lists.open_levels
    effect: allow
    severity: info
""",
    """\
  - id: svc{ns}.read.role.allow
    description: svc{ns} readers may read.
    match: {{actions: [svc{ns}.data.read]}}
    condition: >-
      "svc{ns}-reader" in principal.roles
      || principal.roles.exists(r, r.startsWith("svc{ns}-admin"))
    effect: allow
    severity: info
""",
    """\
  - id: svc{ns}.bulk.approval
    description: Bulk svc{ns} transfers need a steward.
    match: {{actions: ["svc{ns}.data.*"], environments: [prod, staging]}}
    condition: data_bytes != null && data_bytes > 1073741824
    effect: escalate
    severity: medium
    approval: {{roles: [data-steward], quorum: 2}}
""",
)


def synthetic_pack(n_rules: int, path: str | Path) -> Path:
    """Write a pack of exactly ``n_rules`` rules (at least 2) to ``path``/rules.yaml.

    Parameters
    ----------
    n_rules
        Number of rules, pack-wide rules included.
    path
        Directory to create (or reuse) for the pack.

    Returns
    -------
    Path
        The pack directory.
    """
    if n_rules < 2:
        raise ValueError("a synthetic pack has at least its 2 pack-wide rules")
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    parts = [_HEADER.format(n=n_rules)]
    for index in range(n_rules - 2):
        parts.append(_TEMPLATES[index % len(_TEMPLATES)].format(ns=index // len(_TEMPLATES)))
    (root / "rules.yaml").write_text("".join(parts), encoding="utf-8")
    return root


def synthetic_event(index: int, n_rules: int) -> dict[str, object]:
    """A realistic action event for a synthetic pack of ``n_rules`` rules (varies by index)."""
    namespaces = max(1, (n_rules - 2) // len(_TEMPLATES))
    return {
        "event_id": f"evt-{index}",
        "occurred_at": 1_700_000_000_000 + index,
        "principal": {
            "id": f"agent-{index % 13}",
            "type": "agent" if index % 2 else "human",
            "roles": [f"svc{index % namespaces}-reader"] if index % 3 else [],
            "on_behalf_of": None if index % 4 else "alice",
        },
        "action": f"svc{index % namespaces}.data.{('read', 'export', 'write')[index % 3]}",
        "resource": {
            "type": "dataset",
            "id": f"ds-{index % 7}",
            "environment": ("prod", "staging", "dev")[index % 3],
            "sensitivity": ("public", "internal", "confidential", "restricted")[index % 4],
        },
        "session_id": f"sess-{index % 5}",
        "source": None,
        "data_bytes": None if index % 5 == 0 else index * 100_000_000,
        "context": {},
    }
