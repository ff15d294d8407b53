"""The reviewer API in the worker's web server: inbox, show, approve, deny, Slack clicks.

Reviewers authenticate with a bearer token from the reviewers file or, when configured, an
OIDC ID token. A verdict given here is signed with the worker's signing key and published
to ``clearance.approvals`` in the escalation's partition, so it goes through exactly the
checks of any other approval (the API holds no shortcut); the answer waits briefly for that
outcome. The inbox and lookups read this worker's state: with several workers, each serves
the escalations of the partitions it owns.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import faust
from aiokafka import AIOKafkaProducer
from faust.web import Request, Response, View

from clearance.approvals import (
    AuthError,
    EscalationState,
    OidcVerifier,
    Reviewer,
    ReviewerDirectory,
    SlackError,
    decidable_by,
    load_signing_key,
    parse_interaction,
    signed_approval,
    verify_slack_signature,
    why_not,
)
from clearance.config import Settings
from clearance.schemas import Codec

from ._openapi import OPENAPI

if TYPE_CHECKING:
    from .approvals_flow import ApprovalsFlow

__all__ = ["ReviewerApi", "install_reviewer_api"]

log = logging.getLogger(__name__)

VERDICT_WAIT_SECONDS = 10.0


def _summary(state: EscalationState) -> dict[str, Any]:
    data = state.to_dict()
    data.pop("approval_ids", None)
    return data


class ReviewerApi:
    """Authentication, lookups and verdict submission behind the HTTP views."""

    def __init__(self, app: faust.App, settings: Settings, flow: ApprovalsFlow) -> None:
        self.settings = settings
        self.flow = flow
        self.directory = (
            ReviewerDirectory.from_file(settings.reviewers_file)
            if settings.reviewers_file
            else None
        )
        self.oidc = (
            OidcVerifier(
                settings.oidc_issuer,
                settings.oidc_audience,
                jwks_url=settings.oidc_jwks_url,
                roles_claim=settings.oidc_roles_claim,
            )
            if settings.oidc_issuer and settings.oidc_jwks_url
            else None
        )
        key_path = settings.approval_signing_key
        self.signing_key = load_signing_key(key_path.read_text()) if key_path else None
        self.kid = settings.approval_signing_kid or (key_path.stem if key_path else "")
        self.topic = settings.topic("approvals")
        self._codec = Codec("Approval")
        self._producer: AIOKafkaProducer | None = None

    def authenticate(self, authorization: str | None) -> Reviewer:
        """The reviewer of an ``Authorization`` header; :class:`AuthError` otherwise."""
        token = (authorization or "").partition(" ")[2].strip()
        if self.oidc is not None and token.count(".") == 2:
            return self.oidc.authenticate(authorization)
        if self.directory is None:
            raise AuthError("unknown_token", "no reviewers are configured on this worker")
        return self.directory.authenticate(authorization)

    def states(self) -> list[EscalationState]:
        return self.flow.gate.pending(self.flow.principal_ids())

    def find(self, escalation_id: str) -> tuple[int, EscalationState] | None:
        return self.flow.gate.find(self.flow.principal_ids(), escalation_id)

    async def submit(
        self,
        reviewer: Reviewer,
        escalation_id: str,
        verdict: str,
        reason: str,
        grant_seconds: int | None,
    ) -> tuple[int, dict[str, Any]]:
        """Sign and publish a verdict; (HTTP status, body) with its outcome when known."""
        if self.signing_key is None:
            return 503, {
                "error": "this worker has no signing key; set CLEARANCE_APPROVAL_SIGNING_KEY"
            }
        found = self.find(escalation_id)
        if found is None:
            return 404, {"error": f"no escalation {escalation_id} on this worker"}
        partition, state = found
        approval_id = uuid.uuid4().hex
        approval = {
            "approval_id": approval_id,
            "escalation_id": escalation_id,
            "verdict": verdict,
            "approver": reviewer.as_approver(),
            "reason": reason,
            "decided_at": int(time.time() * 1000),
            "grant_seconds": grant_seconds,
        }
        signed = signed_approval(approval, self.signing_key, self.kid)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.flow.waiting[approval_id] = waiter
        producer = await self._get_producer()
        await producer.send_and_wait(
            self.topic,
            self._codec.encode(signed, "json"),
            key=state.principal["id"].encode(),
            partition=partition,
        )
        try:
            outcome = await asyncio.wait_for(waiter, VERDICT_WAIT_SECONDS)
        except TimeoutError:
            self.flow.waiting.pop(approval_id, None)
            return 202, {"approval_id": approval_id, "status": "submitted"}
        status = 200 if outcome["accepted"] else 409
        return status, {"approval_id": approval_id, "outcome": outcome}

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap)
            await producer.start()
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


def _json_body(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def install_reviewer_api(app: faust.App, settings: Settings, flow: ApprovalsFlow) -> ReviewerApi:
    """Add the reviewer views to the app's web server."""
    api = ReviewerApi(app, settings, flow)
    app.clearance_reviewer_api = api  # type: ignore[attr-defined]

    async def reviewer_or_401(view: View, request: Request) -> Reviewer | Response:
        try:
            return api.authenticate(request.headers.get("Authorization"))
        except AuthError as exc:
            return view.json({"error": exc.reason, "code": exc.reason_code}, status=401)

    @app.page("/clearance/openapi.json")
    async def openapi(self: View, request: Request) -> Response:
        return self.json(OPENAPI)

    @app.page("/clearance/escalations")
    async def inbox(self: View, request: Request) -> Response:
        reviewer = await reviewer_or_401(self, request)
        if not isinstance(reviewer, Reviewer):
            return reviewer
        now = int(time.time() * 1000)
        mine = decidable_by(reviewer, api.states(), now)
        return self.json({"reviewer": reviewer.id, "escalations": [_summary(s) for s in mine]})

    @app.page("/clearance/escalations/{escalation_id}")
    class ShowEscalation(View):
        async def get(self, request: Request, escalation_id: str) -> Response:
            reviewer = await reviewer_or_401(self, request)
            if not isinstance(reviewer, Reviewer):
                return reviewer
            found = api.find(escalation_id)
            if found is None:
                return self.json({"error": f"no escalation {escalation_id}"}, status=404)
            state = found[1]
            problem = why_not(reviewer, state, int(time.time() * 1000))
            return self.json(
                {
                    "escalation": _summary(state),
                    "partition": found[0],
                    "may_decide": problem is None,
                    "why_not": problem[1] if problem else None,
                }
            )

    @app.page("/clearance/escalations/{escalation_id}/{verdict}")
    class DecideEscalation(View):
        async def post(self, request: Request, escalation_id: str, verdict: str) -> Response:
            reviewer = await reviewer_or_401(self, request)
            if not isinstance(reviewer, Reviewer):
                return reviewer
            verdicts = {"approve": "approve", "deny": "deny"}
            if verdict not in verdicts:
                return self.json({"error": "use .../approve or .../deny"}, status=404)
            try:
                body = _json_body(await request.json())
            except ValueError:
                return self.json({"error": 'the body must be JSON: {"reason": ...}'}, status=400)
            reason = str(body.get("reason") or "").strip()
            if not reason:
                return self.json({"error": "a reason is required"}, status=400)
            seconds = body.get("grant_seconds")
            if seconds is not None and (not isinstance(seconds, int) or seconds < 1):
                return self.json({"error": "grant_seconds must be whole seconds >= 1"}, status=400)
            status, answer = await api.submit(
                reviewer, escalation_id, verdicts[verdict], reason, seconds
            )
            return self.json(answer, status=status)

    @app.page("/clearance/slack/interactions")
    class SlackInteractions(View):
        async def post(self, request: Request) -> Response:
            secret = settings.slack_signing_secret
            if secret is None or api.directory is None:
                return self.json({"error": "Slack is not configured on this worker"}, status=404)
            raw = await request.read()
            try:
                verify_slack_signature(
                    secret.get_secret_value(),
                    request.headers.get("X-Slack-Request-Timestamp"),
                    raw,
                    request.headers.get("X-Slack-Signature"),
                    time.time(),
                )
                click = parse_interaction(raw)
                reviewer = api.directory.by_slack_user(click.slack_user.id)
            except (SlackError, AuthError) as exc:
                return self.json({"error": exc.reason, "code": exc.reason_code}, status=401)
            if not click.reason:
                return self.json(
                    {"response_type": "ephemeral", "text": "Type a reason, then click again."}
                )
            _, answer = await api.submit(
                reviewer, click.escalation_id, click.verdict, click.reason, None
            )
            outcome = answer.get("outcome") or {}
            text = outcome.get("reason") or answer.get("error") or answer.get("status", "")
            return self.json({"response_type": "ephemeral", "text": text, **answer})

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_producer(app: faust.App, **kwargs: Any) -> None:
        await api.close()

    return api
