"""The Faust side of model monitoring: the ``decide-model-events`` agent and its table.

:func:`install_model_monitoring` adds to an app built by
:func:`~clearance.streams.app.build_app` an agent over ``clearance.model-events`` (keyed by
model id) that hands batches to a :class:`~clearance.streams.model_decide.ModelDecider` and
produces its outputs through the app's :class:`~clearance.streams.app.Emitter`, so a model
decision commits with its input offsets exactly as an action decision does. Each model's
:class:`~clearance.detectors.ModelMonitor` state lives in the changelog-backed table
``model-monitors``, partitioned like the input, so the worker that takes over a partition
takes over its models' references and detectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import faust
import mode
from faust.types import StreamT

from clearance.config import Settings
from clearance.rules import CompiledPolicy

from .decide import InputMessage, TopicNames
from .model_decide import ModelDecider
from .state import ChangelogState

if TYPE_CHECKING:
    from .app import Emitter

__all__ = ["install_model_monitoring"]

# Model events are rare and their windows large; small batches keep latency low.
_BATCH = 200


def install_model_monitoring(
    app: faust.App, settings: Settings, policy: CompiledPolicy, emitter: Emitter
) -> ModelDecider:
    """Add the model-event agent and its monitor table to ``app``; return its decider."""
    model_events = app.topic(
        settings.topic("model-events"),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    # Monitor state is written in the transaction of the batch that changed it.
    monitors = ChangelogState(app, "model-monitors", settings.topic_partitions)

    decider = ModelDecider(
        policy,
        TopicNames.with_prefix(settings.topic_prefix),
        settings.output_format,
        settings.max_message_bytes,
        load=monitors.get,
        save=monitors.put,
    )
    batch_wait = settings.batch_wait_ms / 1000

    @app.agent(
        model_events, name="decide-model-events", supervisor_strategy=mode.CrashingSupervisor
    )
    async def decide_model_events(stream: StreamT) -> None:
        take = stream.take_events  # type: ignore[attr-defined]
        async for taken in take(_BATCH, within=batch_wait):
            events = await emitter.current(taken)
            if not events:
                continue
            batch = [InputMessage.of(event) for event in events]
            outputs = decider.decide_batch(batch)
            decider.flush()
            await emitter.emit(outputs, events, monitors.take())

    @app.on_rebalance_complete.connect
    def forget_monitors(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # A partition that came back may have been changed by another worker meanwhile.
        decider.forget()

    return decider
