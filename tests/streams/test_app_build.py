"""Building the worker's app leaves Faust's view of the processing guarantee to the worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.config import Settings
from clearance.streams.app import build_app
from clearance.streams.worker import load_policy


@pytest.mark.parametrize(
    ("guarantee", "transactions"), [("exactly_once", True), ("at_least_once", False)]
)
def test_the_app_uses_transactions_in_a_worker_as_configured(
    guarantee: str, transactions: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Faust caches App.in_transaction the first time it is read, and it is False until a
    # worker runs the app: read while building, it would turn exactly-once off for good.
    monkeypatch.setenv("CLEARANCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CLEARANCE_PROCESSING_GUARANTEE", guarantee)
    settings = Settings()
    app = build_app(settings, load_policy(settings))
    app.in_worker = True  # what faust.Worker sets when it starts the app
    assert app.in_transaction is transactions
