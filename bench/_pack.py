"""The benchmark's policy pack: the shipped default pack plus generated team rules.

The default pack's 22 rules are the ones the demo traffic exercises (reads, exports, grants,
infrastructure changes, sessions). A real deployment carries many more rules written by the
teams owning other services; ``clearance.rules.synthetic_pack`` writes such rules (namespaces
``svc<N>`` of five rules each), and their rules sit beside the default ones here. The
synthetic pack's two pack-wide rules repeat default rules (compromised session, detector
score), so they are left out rather than evaluated twice.

The synthetic rules never match the demo's action names, so they cost the engine only in
its per-(action, environment) plan lookup; per event, it evaluates the default rules that
match, which is what a pack grown by unrelated teams costs a given publisher.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from clearance.rules import DEFAULT_PACK_PATH, load_pack, synthetic_pack

__all__ = ["PACK_DESCRIPTION", "bench_pack"]

# The synthetic pack's own pack-wide rules, which duplicate rules of the default pack.
_PACK_WIDE_PREFIX = "global."

PACK_DESCRIPTION = (
    "the default pack ({default} rules) plus {teams} generated team rules "
    "(clearance.rules.synthetic_pack, namespaces svc0..svc{last}): {total} rules"
)


def bench_pack(directory: Path, n_rules: int = 50) -> tuple[Path, str]:
    """Write the benchmark pack of ``n_rules`` rules into ``directory``.

    Parameters
    ----------
    directory
        Created if missing; the pack is ``directory/pack`` (a copy of the default pack with a
        ``teams/services.yaml`` of generated rules).
    n_rules
        Rules in total; at least the default pack's.

    Returns
    -------
    tuple[Path, str]
        The pack directory and a one-line description for the report.
    """
    default_rules = len(load_pack(DEFAULT_PACK_PATH).rules)
    teams = n_rules - default_rules
    if teams < 0:
        raise ValueError(f"n_rules={n_rules} is below the default pack's {default_rules} rules")
    pack = directory / "pack"
    if pack.exists():
        shutil.rmtree(pack)
    shutil.copytree(DEFAULT_PACK_PATH, pack)
    if teams:
        with tempfile.TemporaryDirectory() as scratch:
            generated = synthetic_pack(teams + 2, scratch) / "rules.yaml"
            rules = yaml.safe_load(generated.read_text(encoding="utf-8"))["rules"]
        rules = [rule for rule in rules if not rule["id"].startswith(_PACK_WIDE_PREFIX)]
        (pack / "teams").mkdir()
        (pack / "teams" / "services.yaml").write_text(
            yaml.safe_dump({"rules": rules}, sort_keys=False), encoding="utf-8"
        )
    total = len(load_pack(pack).rules)
    description = PACK_DESCRIPTION.format(
        default=default_rules, teams=teams, last=max(0, (teams - 1) // 5), total=total
    )
    return pack, description
