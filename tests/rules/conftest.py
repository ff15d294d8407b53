"""Helpers for policy engine tests: write small packs into a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PackWriter = Callable[..., Path]


@pytest.fixture
def write_pack(tmp_path: Path) -> PackWriter:
    """Write files (relative name -> YAML text, dedented) as a pack; return its directory."""
    counter = iter(range(1000))

    def write(files: dict[str, str] | str, name: str | None = None) -> Path:
        root = tmp_path / (name or f"pack{next(counter)}")
        if isinstance(files, str):
            files = {"rules.yaml": files}
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return root

    return write


def action_event(**overrides: Any) -> dict[str, Any]:
    """A complete action event; keyword arguments replace top-level fields."""
    event: dict[str, Any] = {
        "event_id": "evt-1",
        "occurred_at": 1_700_000_000_000,
        "principal": {"id": "alice", "type": "human", "roles": [], "on_behalf_of": None},
        "action": "data.read",
        "resource": {
            "type": "dataset",
            "id": "customers",
            "environment": "prod",
            "sensitivity": "internal",
        },
        "session_id": "sess-1",
        "source": "10.0.0.1",
        "data_bytes": None,
        "context": {},
    }
    event.update(overrides)
    return event


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """Factory for complete action events (see :func:`action_event`)."""
    return action_event
