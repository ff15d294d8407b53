"""Policy changes on the stream: switch versions, re-check grants and sessions, run a shadow pack.

One call wires it into :func:`~clearance.streams.app.build_app`: :func:`install_policy_flow`
adds a task that follows ``clearance.policies`` (every worker reads every release). For an
``active`` release it compiles the pack and puts it in force between two batches
(:meth:`Decider.use_policy`), then re-checks every live grant of the partitions this worker
owns under the new version: a grant whose scope the new policy denies or revokes is taken
back (a ``revoke`` decision with ``event_kind: policy`` and a revocation, produced in the
owning partition's transaction through :meth:`Emitter.emit_unanswered`), and so is an open
session whose last allowed action it no longer allows (:mod:`.session_recheck`). A release that
does not compile is refused in the log and the running version stays. A ``shadow`` release
is evaluated beside the active pack on every batch (:class:`ShadowEvaluator`), its
decisions published on ``clearance.shadow-decisions`` and never enforced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust

from clearance.approvals import EscalationState, Grant
from clearance.config import Settings
from clearance.rules import CompiledPolicy, Verdict
from clearance.schemas import Codec

from .approval_state import ApprovalState
from .approvals_flow import ApprovalTables
from .decide import Decider, InputMessage, OutputMessage, decision_id_for
from .policy_releases import PolicyFeed, PolicyRefused, compile_release
from .revocations import grant_revocation_for
from .risk import RiskAssessment
from .session_recheck import recheck_sessions
from .state import ChangelogState

__all__ = ["PolicyFlow", "ShadowEvaluator", "install_policy_flow", "regrant_event"]

log = logging.getLogger(__name__)

#: Effects under which a live grant no longer holds.
TAKES_BACK = frozenset({"deny", "revoke"})


def regrant_event(grant: Grant, state: EscalationState | None, now_ms: int) -> dict[str, Any]:
    """The action a grant allows, as an event the policy can decide again."""
    principal = (
        dict(state.principal)
        if state is not None
        else {"id": grant.principal_id, "type": "human", "roles": [], "on_behalf_of": None}
    )
    principal["on_behalf_of"] = grant.on_behalf_of
    resource = {**grant.resource._asdict(), "sensitivity": "internal"}
    if state is not None:
        resource["sensitivity"] = state.resource.get("sensitivity", "internal")
    return {
        "event_id": f"grant:{grant.grant_id}",
        "occurred_at": now_ms,
        "principal": principal,
        "action": grant.action,
        "resource": resource,
        "session_id": state.session_id if state is not None else None,
        "source": None,
        "data_bytes": None,
        "context": dict(state.context) if state is not None else {},
    }


class ShadowEvaluator:
    """Decides each batch again under a candidate pack; its decisions are only recorded."""

    def __init__(self, policy: CompiledPolicy, decider: Decider, topic: str) -> None:
        self.policy = policy
        self.decider = decider
        self.topic = topic
        self._codec = Codec("Decision")

    def __call__(
        self,
        events: Sequence[dict[str, Any]],
        sources: Sequence[InputMessage],
        verdicts: Sequence[Verdict],
        risks: Sequence[RiskAssessment | None],
        now_ms: int,
    ) -> list[OutputMessage]:
        detectors = [r.detectors if r is not None else {} for r in risks]
        if not risks or risks[0] is None:
            shadow = self.policy.decide_many(list(events), "action")
        else:
            shadow = self.policy.decide_many(list(events), "action", detectors)
        version = self.policy.version
        out = []
        fmt = self.decider.output_format
        for event, source, candidate, risk in zip(events, sources, shadow, risks, strict=True):
            record = self.decider.decision_record(event, candidate, source, now_ms, risk)
            record["decision_id"] = decision_id_for(f"shadow:{version}", event["event_id"])
            record["escalation_id"] = None
            out.append(
                OutputMessage(
                    self.topic,
                    event["principal"]["id"].encode(),
                    self._codec.encode(record, fmt, trusted=True),
                    source,
                )
            )
        return out


class PolicyFlow:
    """Applies releases to the decider and re-checks grants; the task calls it."""

    def __init__(
        self, settings: Settings, decider: Decider, gate: ApprovalState | None, principal_ids: Any
    ) -> None:
        self.decider = decider
        self.gate = gate
        self.principal_ids = principal_ids
        self.root = settings.data_dir / "policies"
        self.shadow_topic = settings.topic("shadow-decisions")
        #: grant id -> the policy version it was last re-checked under (in memory: after a
        #: restart a grant is checked once more, with the same result).
        self.checked: dict[str, str] = {}

    def apply(self, release: dict[str, Any]) -> CompiledPolicy | None:
        """Put a release in force (active) or beside it (shadow); the new active policy, if any.

        A release that does not compile is refused (logged); nothing changes.
        """
        slot, version = release["slot"], release["version"]
        current = self.decider.policy.version
        if slot == "active" and version == current:
            return None
        shadow = self.decider.shadow
        if slot == "shadow" and (
            version == current or (shadow is not None and shadow.policy.version == version)
        ):
            return None
        try:
            policy = compile_release(release, self.root)
        except PolicyRefused as exc:
            log.error("policy release refused, %s stays in force: %s", current, exc)
            return None
        if slot == "shadow":
            self.decider.shadow = ShadowEvaluator(policy, self.decider, self.shadow_topic)
            log.info(
                "shadow policy %s evaluated beside %s (pushed by %s)",
                version,
                current,
                release["pushed_by"],
            )
            return None
        self.decider.use_policy(policy)
        if shadow is not None and shadow.policy.version == version:
            self.decider.shadow = None  # promoted
        log.info(
            "policy %s in force (was %s, pushed by %s)", version, current, release["pushed_by"]
        )
        return policy

    def settle(self, backlog: Sequence[dict[str, Any]]) -> None:
        """Catch up with the releases already on the topic when the worker starts.

        Replaying them in order would switch through every old version (and re-check grants
        under each); only what should be in force now is applied: the newest active release
        that compiles, and the newest shadow release unless its version was promoted since.
        Grants are re-checked under the result on the timer.
        """
        for release in reversed([r for r in backlog if r["slot"] == "active"]):
            if release["version"] == self.decider.policy.version or self.apply(release):
                break
        for position in range(len(backlog) - 1, -1, -1):
            release = backlog[position]
            if release["slot"] != "shadow":
                continue
            promoted = any(
                later["slot"] == "active" and later["version"] == release["version"]
                for later in backlog[position + 1 :]
            )
            if not promoted:
                self.apply(release)
            break

    def recheck(
        self, policy: CompiledPolicy, partitions: set[int], now_ms: int, *, sessions: bool = True
    ) -> dict[int, list[OutputMessage]]:
        """Revoke the live grants and close the open sessions of ``partitions`` that
        ``policy`` no longer allows (see :mod:`~clearance.streams.session_recheck`).

        Only grants and sessions not yet checked under ``policy`` are decided: those issued
        or last allowed under another version and not re-checked since (so a worker that
        starts, or takes over a partition, after a switch still re-checks what it inherits).
        Sessions are re-checked only under the version in force (a timer's pass that began
        before a switch must not judge sessions the new version has allowed since), and not
        when ``sessions`` is false (a partition's sessions are looked at once per version,
        so not while its table may still be recovering); idle ones are closed on the way.
        """
        by_partition = self._recheck_grants(policy, partitions, now_ms)
        book = self.decider.sessions
        if not sessions or book is None or policy.version != self.decider.policy.version:
            return by_partition
        for partition in sorted(partitions):
            book.expire_idle(partition, now_ms)
            outputs = recheck_sessions(policy, book, self.gate, self.decider, partition, now_ms)
            if outputs:
                by_partition.setdefault(partition, []).extend(outputs)
        return by_partition

    def _recheck_grants(
        self, policy: CompiledPolicy, partitions: set[int], now_ms: int
    ) -> dict[int, list[OutputMessage]]:
        if self.gate is None or not partitions:
            return {}
        version = policy.version
        live = [
            item
            for item in self.gate.active_grants(self.principal_ids(), partitions, now_ms)
            if self.checked.get(item[2].grant_id) != version
            and (item[3] is None or item[3].policy_version != version)
        ]
        if not live:
            return {}
        for _, _, grant, _ in live:
            self.checked[grant.grant_id] = version
        events = [regrant_event(grant, state, now_ms) for _, _, grant, state in live]
        verdicts = policy.decide_many(events, "action")
        by_partition: dict[int, list[OutputMessage]] = {}
        for (principal_id, partition, grant, state), event, verdict in zip(
            live, events, verdicts, strict=True
        ):
            if verdict.effect not in TAKES_BACK:
                continue
            if self.gate.revoke_grant(principal_id, grant.grant_id) is None:
                continue
            source = InputMessage("", partition, -1, None, None, now_ms)
            decision = self.decider.decision_record(event, verdict, source, now_ms)
            decision.update(
                decision_id=decision_id_for("policy", f"{policy.version}:{grant.grant_id}"),
                event_id=state.event_id if state is not None else event["event_id"],
                event_kind="policy",
                effect="revoke",
                escalation_id=grant.escalation_id,
                approvers=list(grant.approvers),
                grant_id=grant.grant_id,
                grant_expires_at=grant.expires_at,
                reasons=[
                    f"grant {grant.grant_id} revoked: policy {policy.version} decides "
                    f"{verdict.effect} for {grant.action} on {grant.resource.id}",
                    *verdict.reasons,
                ],
            )
            revocation = grant_revocation_for(
                event["principal"],
                grant,
                reason_code="policy_change",
                reason=decision["reasons"][0],
                policy_version=policy.version,
                now_ms=now_ms,
                cause=policy.version,
                decision_id=decision["decision_id"],
                rule_ids=list(verdict.rule_ids),
            )
            by_partition.setdefault(partition, []).extend(
                self.decider.revoke_outputs(principal_id.encode(), decision, revocation, source)
            )
        return by_partition


def install_policy_flow(
    app: faust.App,
    settings: Settings,
    decider: Decider,
    emitter: Any,
    gate: ApprovalState | None,
) -> PolicyFlow:
    """Add the task that follows ``clearance.policies`` to ``app``."""
    state: ApprovalTables | None = getattr(app, "clearance_approvals_state", None)
    sessions_state: ChangelogState | None = getattr(app, "clearance_sessions_state", None)
    flow = PolicyFlow(
        settings, decider, gate, gate.store.principal_ids if gate is not None else list
    )
    actions_topic = settings.topic("actions")
    topic = settings.topic("policies")

    @app.task
    async def follow_policies() -> None:
        loop = asyncio.get_running_loop()
        # One thread owns the consumer: its close runs after the poll in flight, never beside it.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-feed")
        feed = await loop.run_in_executor(thread, PolicyFeed, settings.kafka_bootstrap, topic)
        try:
            flow.settle(await loop.run_in_executor(thread, feed.history))
            while True:
                releases, _ = await loop.run_in_executor(thread, feed.poll, 0.5)
                for release in releases:
                    policy = flow.apply(release)
                    if policy is not None:
                        await _recheck(policy)
        finally:
            thread.submit(feed.close)
            thread.shutdown(wait=False)

    # Grants and sessions inherited after a switch (a restart, a rebalance, a table still
    # recovering at the switch) are re-checked on the approvals timer's period, which also
    # closes idle sessions.
    @app.timer(interval=settings.approvals_tick_ms / 1000)
    async def recheck_grants() -> None:
        await _recheck(decider.policy)

    async def _recheck(policy: CompiledPolicy) -> None:
        owned = sorted(
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == actions_topic
        )
        revoked = 0
        # One partition at a time, yielding between them: batches keep being decided while
        # thousands of grants are re-checked, and each partition's revocations leave early.
        # Tables are complete once a rebalance ends (Faust ends it after their recovery).
        settled = not (app.rebalancing or app.in_recovery)
        for partition in owned:
            now_ms = int(time.time() * 1000)
            outputs = flow.recheck(policy, {partition}, now_ms, sessions=settled).get(partition, [])
            # The grants and sessions marked revoked go with their revocations, in one
            # transaction.
            if gate is not None:
                gate.flush()
            writes = state.take() if state is not None else []
            if decider.sessions is not None and sessions_state is not None:
                decider.sessions.flush()
                writes.extend(sessions_state.take())
            if (outputs or writes) and not await emitter.emit_unanswered(
                actions_topic, partition, outputs, writes
            ):
                log.warning(
                    "%s[%d]: %d policy revocations left to the partition's new owner",
                    actions_topic,
                    partition,
                    len(outputs),
                )
            revoked += len(outputs) // 2
            await asyncio.sleep(0)
        if revoked:
            log.info("policy %s revoked %d grants and sessions", policy.version, revoked)

    return flow
