"""Bearer-token reviewers: the file format, hashing, authentication, Slack identities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from clearance.approvals import (
    AuthError,
    Reviewer,
    ReviewerDirectory,
    ReviewerFileError,
    hash_token,
    new_token,
    reviewer_entry,
)

CAROL_TOKEN = new_token()
DAVE_TOKEN = new_token()


def _write(tmp_path: Path, data: object, name: str = "reviewers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if name.endswith(".yaml") else json.dumps(data))
    return path


@pytest.fixture
def directory(tmp_path) -> ReviewerDirectory:
    return ReviewerDirectory.from_file(
        _write(
            tmp_path,
            {
                "reviewers": [
                    reviewer_entry("user:carol", ["data-steward"], CAROL_TOKEN, "U0CAROL"),
                    reviewer_entry("user:dave", ["data-steward", "sre"], DAVE_TOKEN),
                ]
            },
        )
    )


def test_a_token_authenticates_its_reviewer(directory) -> None:
    carol = directory.authenticate(f"Bearer {CAROL_TOKEN}")
    assert carol == Reviewer("user:carol", ("data-steward",))
    assert directory.authenticate(f"bearer  {DAVE_TOKEN} ").id == "user:dave"
    assert carol.as_approver() == {
        "id": "user:carol",
        "type": "human",
        "roles": ["data-steward"],
        "on_behalf_of": None,
    }


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer not-a-known-token", "unknown_token"),
    ],
)
def test_bad_credentials_are_refused(directory, header, code) -> None:
    with pytest.raises(AuthError) as caught:
        directory.authenticate(header)
    assert caught.value.reason_code == code


def test_the_file_holds_hashes_only(tmp_path) -> None:
    entry = reviewer_entry("user:carol", ["data-steward"], CAROL_TOKEN)
    assert CAROL_TOKEN not in json.dumps(entry)
    assert entry["token_sha256"] == hashlib.sha256(CAROL_TOKEN.encode()).hexdigest()
    assert hash_token(CAROL_TOKEN) == entry["token_sha256"]
    assert new_token() != new_token() and len(new_token()) >= 43  # 256 bits, base64url


def test_json_files_work_too(tmp_path) -> None:
    path = _write(
        tmp_path,
        {"reviewers": [reviewer_entry("user:carol", ["data-steward"], CAROL_TOKEN)]},
        "reviewers.json",
    )
    assert ReviewerDirectory.from_file(path).authenticate(f"Bearer {CAROL_TOKEN}").id


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"id": "user:x", "roles": [], "token": "plain"}], "plain token"),
        ([{"id": "user:x", "roles": [], "token_sha256": "abc"}], "64 lowercase hex"),
        ([{"id": "", "roles": [], "token_sha256": "a" * 64}], "'id' must be"),
        ([{"id": "user:x", "roles": "sre", "token_sha256": "a" * 64}], "'roles' must be"),
        ([{"id": "user:x", "token_sha256": "a" * 64, "colour": "red"}], "unknown keys colour"),
        ([{"id": "bot:x", "type": "agent", "token_sha256": "a" * 64}], "only humans review"),
        (
            [
                {"id": "user:x", "token_sha256": "a" * 64},
                {"id": "user:y", "token_sha256": "a" * 64},
            ],
            "already used by user:x",
        ),
        (
            [
                {"id": "user:x", "token_sha256": "a" * 64, "slack_user_id": "U1"},
                {"id": "user:y", "token_sha256": "b" * 64, "slack_user_id": "U1"},
            ],
            "U1 already belongs to user:x",
        ),
    ],
)
def test_bad_files_are_refused_with_the_entry(tmp_path, entries, message) -> None:
    with pytest.raises(ReviewerFileError, match=message) as caught:
        ReviewerDirectory.from_file(_write(tmp_path, {"reviewers": entries}))
    assert "reviewers[" in str(caught.value)


def test_a_missing_or_shapeless_file_is_refused(tmp_path) -> None:
    with pytest.raises(ReviewerFileError, match="cannot read"):
        ReviewerDirectory.from_file(tmp_path / "absent.yaml")
    with pytest.raises(ReviewerFileError, match="top-level 'reviewers' list"):
        ReviewerDirectory.from_file(_write(tmp_path, ["user:x"]))


def test_several_tokens_may_belong_to_one_reviewer(tmp_path) -> None:
    rotated = new_token()
    directory = ReviewerDirectory.from_file(
        _write(
            tmp_path,
            {
                "reviewers": [
                    reviewer_entry("user:carol", ["data-steward"], CAROL_TOKEN),
                    reviewer_entry("user:carol", ["data-steward"], rotated),
                ]
            },
        )
    )
    assert {directory.authenticate(f"Bearer {t}").id for t in (CAROL_TOKEN, rotated)} == {
        "user:carol"
    }


def test_a_slack_user_maps_to_a_reviewer(directory) -> None:
    carol = directory.by_slack_user("U0CAROL")
    assert (carol.id, carol.roles, carol.via) == ("user:carol", ("data-steward",), "slack")
    with pytest.raises(AuthError) as caught:
        directory.by_slack_user("U0NOBODY")
    assert caught.value.reason_code == "unknown_user"
