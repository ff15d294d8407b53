"""The benchmark pack: the default pack plus generated team rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.bench._pack import bench_pack
from clearance.rules import DEFAULT_PACK_PATH, compile_pack, load_pack


def test_pack_has_the_rules_asked_for_and_every_default_rule(tmp_path: Path) -> None:
    path, description = bench_pack(tmp_path, 50)
    pack = load_pack(path)
    ids = [rule.id for rule in pack.rules]
    assert len(ids) == len(set(ids)) == 50
    assert {rule.id for rule in load_pack(DEFAULT_PACK_PATH).rules} <= set(ids)
    assert "50 rules" in description
    compile_pack(pack)


def test_fewer_rules_than_the_default_pack_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="default pack"):
        bench_pack(tmp_path, 10)
