"""Running a worker: topics, policy, the Faust app and (by default) the audit sink beside it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import faust
import mode

from clearance.audit import AuditSink, AuditStore, StoreDrill, open_audit_store
from clearance.config import Settings
from clearance.rules import DEFAULT_PACK_PATH, CompiledPolicy, compile_pack, load_pack

from .app import build_app
from .heap import freeze_heap
from .topics import clearance_topics, ensure_topics

__all__ = ["AuditSinkService", "DecidingWorker", "load_policy", "run_audit_sink", "run_worker"]

log = logging.getLogger(__name__)


def load_policy(settings: Settings) -> CompiledPolicy:
    """Load and compile the configured pack (the shipped default when none is set)."""
    pack = load_pack(settings.policy_path or Path(DEFAULT_PACK_PATH))
    override = settings.default_effect
    if override is not None and override != pack.default_effect:
        # The override changes what the pack decides, so it is part of the version cited.
        pack = dataclasses.replace(
            pack, default_effect=override, version=f"{pack.version}+default-{override}"
        )
    return compile_pack(pack)


def pushed_policy(settings: Settings, fallback: CompiledPolicy) -> CompiledPolicy:
    """The latest active release on ``clearance.policies`` that compiles
    (``clearance policy push``); ``fallback`` when there is none."""
    from .policy_releases import PolicyFeed, PolicyRefused, compile_release

    feed = PolicyFeed(settings.kafka_bootstrap, settings.topic("policies"))
    try:
        releases = [r for r in feed.history() if r["slot"] == "active"]
    finally:
        feed.close()
    for release in reversed(releases):
        try:
            return compile_release(release, settings.data_dir / "policies")
        except PolicyRefused as exc:
            log.error("pushed policy refused: %s", exc)
    return fallback


def prepare(settings: Settings) -> None:
    """Create Clearance's topics (checking the ones that exist)."""
    specs = clearance_topics(
        settings.topic_prefix,
        settings.topic_partitions,
        settings.topic_replication,
        settings.max_message_bytes,
    )
    created = ensure_topics(settings.kafka_bootstrap, specs)
    if created:
        log.info("created topics: %s", ", ".join(created))


def _new_sink(settings: Settings, store: AuditStore) -> AuditSink:
    return AuditSink(
        bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        group_id=settings.audit_group,
        client=store.client,
        migrate_store=False,
        max_message_bytes=settings.max_message_bytes,
        batch_max_rows=settings.audit_batch_rows,
        batch_max_wait_ms=settings.audit_batch_wait_ms,
        stop_event=threading.Event(),
        # librdkafka prefetches up to 64 MiB by default: while the store is slow or down, the
        # sink must not hold more than this ahead of it.
        consumer_config={
            "queued.max.messages.kbytes": settings.audit_fetch_queue_kib,
            "queued.min.messages": 10_000,
        },
        drill=StoreDrill(settings.audit_drill_file) if settings.audit_drill_file else None,
    )


class AuditSinkService(mode.Service):
    """Runs the audit sink's thread for as long as the worker runs; its failure stops both."""

    def __init__(self, sink: AuditSink, **kwargs: object) -> None:
        self.sink = sink
        self._thread: threading.Thread | None = None
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        self._thread = self.sink.start_thread()

    async def on_stop(self) -> None:
        self.sink.stop_event.set()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 60)

    @mode.Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            await self.sleep(1.0)
            if self._thread is not None and not self._thread.is_alive():
                error = self.sink.error or RuntimeError("the audit sink stopped")
                await self.crash(error)
                return


class DecidingWorker(faust.Worker):
    """Faust's worker, which freezes the heap once started (:func:`~.heap.freeze_heap`) and
    shows no terminal spinner.

    Faust calls ``on_startup_finished`` when the app has started, after its tables have
    recovered (``App.on_started`` waits for the recovery first, faust-streaming 0.15), so the
    recovered state is frozen with the policy and the model. The freeze comes before Faust's
    own start-up end, which starts the blocking detector and logs "Ready".
    """

    def __init__(self, app: faust.App, *services: mode.ServiceT, gc_freeze: bool, **kwargs: Any):
        self.gc_freeze = gc_freeze
        super().__init__(app, *services, **kwargs)
        # Faust's spinner, at log level warn or above, sets the root logger to DEBUG so that
        # it spins on every record: every aiokafka debug record is then created and handled.
        # The worker reports its state in its log instead.
        self.spinner = None

    async def on_startup_finished(self) -> None:
        if self.gc_freeze:
            freeze_heap()
        await super().on_startup_finished()


def run_worker(settings: Settings) -> None:
    """Run a deciding worker until it is stopped (SIGINT/SIGTERM)."""
    policy = load_policy(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    prepare(settings)
    services: list[mode.ServiceT] = []
    # Holding the embedded store comes first: a second holder must stop before it consumes.
    store = (
        open_audit_store(settings.audit_dsn, command="clearance worker")
        if settings.audit_sink
        else None
    )
    try:
        if store is not None:
            services.append(AuditSinkService(_new_sink(settings, store)))
        policy = pushed_policy(settings, policy)
        app = build_app(settings, policy)
        log.info("policy %s in force", policy.version)
        worker = DecidingWorker(
            app, *services, gc_freeze=settings.gc_freeze, loglevel=settings.log_level, quiet=True
        )
        worker.execute_from_commandline()
    finally:
        if store is not None:
            store.close()


def run_audit_sink(settings: Settings) -> None:
    """Run the audit sink alone, until SIGINT/SIGTERM."""
    with open_audit_store(settings.audit_dsn, command="clearance audit sink") as store:
        sink = _new_sink(settings, store)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: sink.stop_event.set())
        sink.run()
