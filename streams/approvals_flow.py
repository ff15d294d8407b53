"""The approvals flow in the Faust app: state table, verdicts agent, timer, notifications.

Two calls wire it into :func:`~clearance.streams.app.build_app`:

* :func:`approval_gate` builds the :class:`ApprovalState` (grants in the changelog-backed
  table ``approvals``, keyed by principal; escalations in ``escalations``, one record each)
  that the Decider consults for escalated events;
* :func:`install_approvals` adds the ``decide-approvals`` agent on ``clearance.approvals``,
  the timer that closes timed-out escalations and revokes expired grants, the Slack
  notifier, and the reviewer API (:mod:`~clearance.streams.reviewer_api`).

Approvals are keyed by the escalated principal, so they land in the partition number of
that principal's actions, where its state lives. Outputs answering an approval go through
:meth:`Emitter.emit` (exactly-once with the approval's offset). Timer outputs answer no
input message: they are produced through the transactional producer of the input partition
that owns the state, under that partition's transaction lock, and committed at once; their
ids are deterministic, so a timer that fires again after a crash (before the state change
reached the changelog) repeats the same records, which the audit store collapses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import faust
import mode
from faust.types import StreamT

from clearance.approvals import Keyring, escalation_message
from clearance.config import Settings
from clearance.schemas import Codec, DecodeError

from .approval_records import (
    closing_decision,
    grant_revocation,
    review_revocation,
    timeout_record,
    verdict_record,
)
from .approval_state import ApprovalState
from .approval_store import TableApprovalStore
from .decide import Decider, InputMessage, OutputMessage
from .revocations import RevocationEncoder
from .state import ChangelogState, StateWrite

__all__ = ["ApprovalsFlow", "approval_gate", "install_approvals", "load_keyring"]

log = logging.getLogger(__name__)

TABLE_NAME = "approvals"
ESCALATIONS_TABLE_NAME = "escalations"


def load_keyring(settings: Settings) -> Keyring:
    """The keyring of ``CLEARANCE_APPROVAL_KEYS``: files, or an inline JWK Set."""
    value = settings.approval_keys.strip()
    if not value:
        return Keyring({})
    if value.startswith("{"):
        return Keyring.from_env_value(value)
    return Keyring.from_files(Path(p.strip()) for p in value.split(",") if p.strip())


def approval_gate(app: faust.App, settings: Settings) -> ApprovalState:
    """The Decider's approvals collaborator, its state in the table ``approvals``."""
    table = ChangelogState(app, TABLE_NAME, settings.topic_partitions)
    escalations = ChangelogState(app, ESCALATIONS_TABLE_NAME, settings.topic_partitions)
    store = TableApprovalStore(table, escalations)
    keyring = load_keyring(settings)
    if not len(keyring):
        log.warning(
            "CLEARANCE_APPROVAL_KEYS is empty: every approval will be rejected as unsigned "
            "or signed by an unknown key"
        )

    # Writes join the transaction of the batch (or timer tick) that made them.
    gate = ApprovalState(
        keyring,
        store,
        one_time_seconds=settings.one_time_grant_seconds,
        timeout_effect=settings.escalation_timeout_effect,
    )
    app.clearance_approvals_state = ApprovalTables(table, escalations)  # type: ignore[attr-defined]

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def reload(app: faust.App, **kwargs: Any) -> None:
        # Recovery wrote the state of the partitions just assigned; anything read while it ran
        # (the reviewer API, the timer) may be partial.
        store.invalidate()
        gate.forget_unchanged()

    return gate


class ApprovalTables:
    """The approvals tables, as the agents hand their writes to the Emitter."""

    def __init__(self, principals: ChangelogState, escalations: ChangelogState) -> None:
        self.principals = principals
        self.escalations = escalations

    def take(self) -> list[StateWrite]:
        """The writes of both tables since the last call."""
        return [*self.principals.take(), *self.escalations.take()]


class ApprovalsFlow:
    """Turns verdicts and timer ticks into encoded outputs; the agents call it.

    Parameters
    ----------
    gate
        The approvals state.
    decider
        For its output topics, format and codecs.
    principal_ids
        Returns the principals that have approvals state (the table's keys).
    """

    def __init__(self, gate: ApprovalState, decider: Decider, principal_ids: Any) -> None:
        self.gate = gate
        self.decider = decider
        self.principal_ids = principal_ids
        self._approvals = Codec("Approval", max_message_bytes=decider.max_message_bytes)
        self._outcomes = Codec("ApprovalOutcome")
        self._decisions = Codec("Decision")
        self._revocations = decider.revocations
        self.outcome_topic = decider.topics.decisions.removesuffix("decisions") + (
            "approval-outcomes"
        )
        #: approval id -> future resolved with its outcome record (for the reviewer API)
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def _out(
        self,
        topic: str,
        codec: Codec | RevocationEncoder,
        key: str,
        record: Any,
        source: InputMessage,
    ) -> Any:
        fmt = self.decider.output_format
        return OutputMessage(topic, key.encode(), codec.encode(record, fmt, trusted=True), source)

    def verdicts(self, messages: list[InputMessage], now_ms: int) -> list[OutputMessage]:
        """Check and count each approval message; outcome, and decision when it closed one."""
        out: list[OutputMessage] = []
        topics = self.decider.topics
        for message in messages:
            try:
                approval = self._approvals.decode(message.value)
            except DecodeError as exc:
                out.append(self.decider.dead_letter(message, exc.reason_code, exc.reason))
                continue
            principal_id = (message.key or b"").decode(errors="replace")
            outcome, state, grant = self.gate.apply(
                principal_id, message.partition, approval, now_ms
            )
            decision = None
            if outcome.decided and state is not None and state.purpose == "approval":
                decision = closing_decision(
                    state,
                    kind="approval",
                    effect="allow" if state.status == "approved" else "deny",
                    reason=outcome.reason,
                    approvers=state.approvers if state.status == "approved" else state.deniers,
                    now_ms=now_ms,
                    source=message,
                    grant=grant,
                )
            elif outcome.decided and state is not None and state.status == "denied":
                # A denied break-glass review takes back what the emergency allowed.
                revocation = review_revocation(state, outcome.reason, now_ms)
                out.append(
                    self._out(
                        topics.revocations, self._revocations, principal_id, revocation, message
                    )
                )
            record = verdict_record(
                outcome,
                approval,
                state,
                principal_id,
                message,
                now_ms,
                decision["decision_id"] if decision else None,
                grant,
            )
            out.append(self._out(self.outcome_topic, self._outcomes, principal_id, record, message))
            if decision is not None:
                out.append(
                    self._out(topics.decisions, self._decisions, principal_id, decision, message)
                )
            waiter = self.waiting.pop(outcome.approval_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(record)
        self.gate.flush()
        return out

    def tick(self, partitions: set[int], now_ms: int) -> dict[int, list[OutputMessage]]:
        """Timeouts and grant expiries of the owned ``partitions``, by partition."""
        expired, revoked = self.gate.due(self.principal_ids(), partitions, now_ms)
        topics = self.decider.topics
        by_partition: dict[int, list[OutputMessage]] = {}
        for state, expiry in expired:
            partition = self.gate.books(state.principal["id"], -1).partition
            source = InputMessage("", partition, -1, None, None, now_ms)
            key = state.principal["id"]
            outputs = by_partition.setdefault(partition, [])
            decision = None
            if state.purpose == "approval":
                decision = closing_decision(
                    state,
                    kind="timer",
                    effect=expiry.effect,
                    reason=expiry.reason,
                    approvers=[],
                    now_ms=now_ms,
                )
                outputs.append(self._out(topics.decisions, self._decisions, key, decision, source))
            record = timeout_record(state, expiry, decision["decision_id"] if decision else None)
            outputs.append(self._out(self.outcome_topic, self._outcomes, key, record, source))
        for principal_id, partition, grant in revoked:
            source = InputMessage("", partition, -1, None, None, now_ms)
            principal: dict[str, Any] = {
                "id": principal_id,
                "type": "human",
                "roles": [],
                "on_behalf_of": None,
            }
            held = self.gate.books(principal_id, partition).escalations.get(grant.escalation_id)
            if held is not None:
                principal = held.principal
            version = held.policy_version if held is not None else ""
            revocation = grant_revocation(principal, grant, version, now_ms)
            by_partition.setdefault(partition, []).append(
                self._out(topics.revocations, self._revocations, principal_id, revocation, source)
            )
        self.gate.flush()
        return by_partition


def install_approvals(
    app: faust.App,
    settings: Settings,
    gate: ApprovalState,
    decider: Decider,
    emitter: Any,
) -> ApprovalsFlow:
    """Add the verdicts agent, the timer, the notifier and the reviewer API to ``app``."""
    from .reviewer_api import install_reviewer_api

    table: ApprovalTables = app.clearance_approvals_state  # type: ignore[attr-defined]
    flow = ApprovalsFlow(gate, decider, gate.store.principal_ids)
    approvals_topic = app.topic(
        settings.topic("approvals"),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    actions_topic = settings.topic("actions")
    batch_wait = settings.batch_wait_ms / 1000

    @app.agent(
        approvals_topic, name="decide-approvals", supervisor_strategy=mode.CrashingSupervisor
    )
    async def decide_approvals(stream: StreamT) -> None:
        take = stream.take_events  # type: ignore[attr-defined]
        async for taken in take(settings.batch_max_events, within=batch_wait):
            events = await emitter.current(taken)
            if not events:
                continue
            batch = [InputMessage.of(event) for event in events]
            outputs = flow.verdicts(batch, int(time.time() * 1000))
            await emitter.emit(outputs, events, table.take())

    @app.timer(interval=settings.approvals_tick_ms / 1000)
    async def approvals_tick() -> None:
        if app.rebalancing:
            # The tables may be partly recovered: closing an escalation on a partial view
            # could time out one already approved.
            return
        owned = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == actions_topic
        }
        if not owned:
            return
        by_partition = flow.tick(owned, int(time.time() * 1000))
        writes = table.take()
        for partition in sorted({*by_partition, *(w.partition for w in writes)}):
            outputs = by_partition.get(partition, [])
            state = [w for w in writes if w.partition == partition]
            if not await emitter.emit_unanswered(actions_topic, partition, outputs, state):
                log.warning(
                    "%s[%d]: %d timer outputs left to the partition's new owner",
                    actions_topic,
                    partition,
                    len(outputs),
                )

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        gate.forget_partitions({tp.partition for tp in revoked if tp.topic == actions_topic})

    if settings.slack_webhook_url:
        notifier = SlackNotifier(
            settings.slack_webhook_url, f"{settings.api_url}/clearance/escalations"
        )
        gate.on_open = notifier.notify
        app.task(notifier.run)

    install_reviewer_api(app, settings, flow)
    return flow


class SlackNotifier:
    """Posts each new escalation to a Slack incoming webhook, off the decision path.

    A failed post is logged and dropped: the escalation is open and in the reviewer API's
    inbox either way.
    """

    def __init__(self, url: str, inbox_url: str) -> None:
        self.url = url
        self.inbox_url = inbox_url
        self.queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue(maxsize=10_000)

    def notify(self, record: Mapping[str, Any]) -> None:
        """Queue one escalation; never blocks or fails the decision path."""
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            log.warning("slack queue full: escalation %s not posted", record.get("escalation_id"))

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while True:
                record = await self.queue.get()
                message = escalation_message(record, inbox_url=self.inbox_url)
                try:
                    async with session.post(
                        self.url,
                        data=json.dumps(message),
                        headers={"Content-Type": "application/json"},
                    ) as response:
                        if response.status >= 300:
                            log.warning(
                                "slack webhook answered %d for escalation %s",
                                response.status,
                                record.get("escalation_id"),
                            )
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("slack webhook failed for %s: %s", record.get("escalation_id"), exc)
