"""Policy releases without Kafka: what a push checks, and what a worker accepts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clearance.rules import compile_pack, load_pack
from clearance.schemas import Codec
from clearance.streams.policy_releases import PolicyRefused, compile_release, prepare_release

PACKS = Path(__file__).parent / "policy_packs"


def test_a_release_carries_the_pack_its_version_and_who_pushed_it() -> None:
    release = prepare_release(PACKS / "v2", "active", "user:carol")
    assert release["version"] == load_pack(PACKS / "v2").version
    assert release["pushed_by"] == "user:carol" and release["tests_passed"] == 4
    assert [f["path"] for f in release["files"]] == ["pack.yaml"]  # tests stay behind
    assert Codec("PolicyRelease").decode(Codec("PolicyRelease").encode(release)) == release


def test_a_pack_with_lint_errors_is_refused_with_file_and_line() -> None:
    with pytest.raises(PolicyRefused, match=r"lint errors:\n  .*pack.yaml:11"):
        prepare_release(PACKS / "bad", "active", "user:carol")


def test_a_pack_whose_tests_fail_is_refused(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(PACKS / "v1", pack)
    tests = pack / "pack_test.yaml"
    tests.write_text(tests.read_text().replace("expect: {effect: revoke", "expect: {effect: allow"))
    with pytest.raises(PolicyRefused, match="1 of 3 policy tests fail"):
        prepare_release(pack, "active", "user:carol")


def test_a_missing_pack_is_refused() -> None:
    with pytest.raises(PolicyRefused, match="does not exist"):
        prepare_release(PACKS / "nope", "active", "user:carol")


def test_a_worker_compiles_the_release_it_was_sent(tmp_path: Path) -> None:
    release = prepare_release(PACKS / "v2", "active", "user:carol")
    policy = compile_release(release, tmp_path)
    assert policy.version == compile_pack(load_pack(PACKS / "v2")).version


@pytest.mark.parametrize("path", ["../escape.yaml", "/etc/pack.yaml"])
def test_a_release_cannot_write_outside_its_directory(tmp_path: Path, path: str) -> None:
    release = prepare_release(PACKS / "v1", "active", "user:carol")
    release["files"].append({"path": path, "content": "rules: []\n"})
    with pytest.raises(PolicyRefused, match="bad file path"):
        compile_release(release, tmp_path / "root")


def test_a_release_whose_content_does_not_match_its_version_is_refused(tmp_path: Path) -> None:
    release = prepare_release(PACKS / "v1", "active", "user:carol")
    release["files"][0]["content"] += "\n# edited on the way\n"
    with pytest.raises(PolicyRefused, match="says version"):
        compile_release(release, tmp_path)
    broken = prepare_release(PACKS / "v1", "active", "user:carol")
    broken["files"][0]["content"] = "rules: [oops"
    with pytest.raises(PolicyRefused):
        compile_release(broken, tmp_path / "b")
