"""freeze_heap: the long-lived state leaves the collector's generations; the setting, and a
real worker (on the real broker) freezing once started only when it says so."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from clearance.config import load_settings
from clearance.streams.heap import freeze_heap


class _State:
    """A long-lived object the collector tracks."""


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Leave the collector as the test found it: nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _tracked(obj: object) -> bool:
    # Frozen objects are in no generation, so get_objects() no longer lists them.
    return any(o is obj for o in gc.get_objects())


def test_freeze_heap_freezes_what_is_alive_and_counts_it(unfrozen: None) -> None:
    state = _State()
    assert _tracked(state)
    frozen = freeze_heap()
    assert not _tracked(state)
    assert frozen.objects == gc.get_freeze_count() > 0
    assert frozen.seconds >= 0


def test_freeze_heap_collects_garbage_before_freezing(unfrozen: None) -> None:
    cycle = _State()
    cycle.self = cycle  # type: ignore[attr-defined]
    gone = weakref.ref(cycle)
    del cycle
    freeze_heap()
    assert gone() is None


def test_freeze_heap_logs_how_many_objects_and_how_long(
    unfrozen: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="clearance.streams.heap"):
        frozen = freeze_heap()
    assert f"froze {frozen.objects} long-lived objects in " in caplog.text


def test_gc_freeze_is_on_by_default_and_the_setting_turns_it_off() -> None:
    assert load_settings({}).gc_freeze is True
    assert load_settings({"CLEARANCE_GC_FREEZE": "false"}).gc_freeze is False


@pytest.mark.integration
@pytest.mark.parametrize("enabled", [True, False])
def test_the_worker_freezes_once_started_only_when_the_setting_says_so(
    enabled: bool, clearance_env: dict[str, str], start_clearance: Any, wait_for: Any
) -> None:
    env = dict(clearance_env, CLEARANCE_GC_FREEZE=str(enabled).lower())
    worker = start_clearance(["worker"], env)
    # Faust logs "Ready" once the worker's start-up has finished, after the freeze.
    wait_for(lambda: "]: Ready" in worker.log(), timeout=180, what="worker ready")
    assert ("long-lived objects in" in worker.log()) is enabled, worker.log()
