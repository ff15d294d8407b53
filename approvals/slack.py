"""Slack-compatible review: the notification with approve / deny buttons, and its answers.

:func:`escalation_message` builds the JSON body for an incoming webhook (Block Kit): who,
what, where, why, risk scores, a reason field and two buttons whose ``value`` is the
escalation id. A click reaches the interactivity endpoint as a form post; the endpoint
first calls :func:`verify_slack_signature` on the raw body (Slack's v0 scheme), then
:func:`parse_interaction`, then maps the Slack user to a reviewer
(:meth:`ReviewerDirectory.by_slack_user`) before any verdict is made.

The signature check is the standard library's HMAC rather than the Slack SDK: it is the
whole of Slack's documented scheme, and the SDK's verifier answers only true or false,
where the endpoint must record why a request was refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from ._errors import SlackError

__all__ = [
    "APPROVE_ACTION_ID",
    "DENY_ACTION_ID",
    "MAX_SKEW_SECONDS",
    "REASON_ACTION_ID",
    "REASON_BLOCK_ID",
    "SlackInteraction",
    "SlackUser",
    "escalation_message",
    "parse_interaction",
    "slack_signature",
    "verify_slack_signature",
]

APPROVE_ACTION_ID = "clearance_approve"
DENY_ACTION_ID = "clearance_deny"
REASON_BLOCK_ID = "clearance_reason"
REASON_ACTION_ID = "reason"
MAX_SKEW_SECONDS = 5 * 60
"""Requests older (or further in the future) than this are refused as possible replays."""

_VERDICTS = {APPROVE_ACTION_ID: "approve", DENY_ACTION_ID: "deny"}
# Block Kit limits: header text 150, section field 2000, section text 3000 characters.
_HEADER_MAX = 150
_FIELD_MAX = 2000
_TEXT_MAX = 3000


def slack_signature(signing_secret: str, timestamp: str, body: bytes | str) -> str:
    """Slack's v0 signature: ``v0=`` + HMAC-SHA256 hex of ``v0:{timestamp}:{body}``."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def verify_slack_signature(
    signing_secret: str,
    timestamp: str | None,
    body: bytes | str,
    signature: str | None,
    now: float,
) -> None:
    """Refuse a request that Slack did not sign, or signed more than 5 minutes from ``now``.

    Parameters
    ----------
    signing_secret
        The Slack app's signing secret.
    timestamp
        The ``X-Slack-Request-Timestamp`` header (epoch seconds).
    body
        The raw request body, exactly as received.
    signature
        The ``X-Slack-Signature`` header.
    now
        Current time, epoch seconds.

    Raises
    ------
    SlackError
        ``missing_header``, ``bad_timestamp``, ``stale`` (older than 5 minutes), ``future``
        (more than 5 minutes ahead) or ``bad_signature``.
    """
    if not timestamp or not signature:
        raise SlackError(
            "missing_header", "X-Slack-Request-Timestamp or X-Slack-Signature is missing"
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SlackError(
            "bad_timestamp", f"X-Slack-Request-Timestamp {timestamp!r} is not epoch seconds"
        ) from None
    if now - sent_at > MAX_SKEW_SECONDS:
        raise SlackError(
            "stale", f"request signed at {sent_at}, {int(now - sent_at)} s ago; possible replay"
        )
    if sent_at - now > MAX_SKEW_SECONDS:
        raise SlackError(
            "future", f"request signed at {sent_at}, {int(sent_at - now)} s ahead; check clocks"
        )
    expected = slack_signature(signing_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SlackError("bad_signature", "X-Slack-Signature does not match the request body")


def _escape(text: object) -> str:
    """Slack mrkdwn escaping, so event data cannot inject mentions or links."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(epoch_ms: int) -> str:
    iso = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    # Slack renders the date in each reader's time zone; the ISO text is the fallback.
    return f"<!date^{epoch_ms // 1000}^{{date_short_pretty}} {{time}}|{iso}>"


def _field(title: str, body: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{title}*\n{body}", _FIELD_MAX)}


def escalation_message(
    escalation: Mapping[str, Any], *, inbox_url: str | None = None
) -> dict[str, Any]:
    """The incoming-webhook JSON announcing an escalation to reviewers.

    Parameters
    ----------
    escalation
        An Escalation record (``schemas/Escalation.avsc``).
    inbox_url
        Base URL of the reviewer API; adds an "Open" link to the escalation when given.
    """
    escalation_id = escalation["escalation_id"]
    principal = escalation["principal"]
    resource = escalation["resource"]
    who = f"`{_escape(principal['id'])}` ({_escape(principal.get('type', '?'))})"
    if principal.get("on_behalf_of"):
        who += f"\nacting for `{_escape(principal['on_behalf_of'])}`"
    if principal.get("roles"):
        who += f"\nroles: {_escape(', '.join(principal['roles']))}"
    where = (
        f"{_escape(resource['type'])} `{_escape(resource['id'])}` in "
        f"*{_escape(resource['environment'])}* ({_escape(resource.get('sensitivity', '?'))})"
    )
    needs = (
        f"{escalation.get('quorum', 1)} approval(s) from "
        f"{_escape(', '.join(escalation.get('approver_roles', [])) or 'nobody')}; "
        f"{escalation.get('deny_quorum', 1)} denial(s) close it"
    )
    why_lines = [
        f"• `{_escape(rule_id)}`: {_escape(reason)}"
        for rule_id, reason in zip(
            escalation.get("rule_ids", []), escalation.get("reasons", []), strict=False
        )
    ] or ["• (the policy's default effect)"]
    scores = escalation.get("detector_scores") or {}
    risk = ", ".join(f"{_escape(name)} {value:.2f}" for name, value in sorted(scores.items()))
    summary = (
        f"Approval needed: {principal['id']} wants {escalation['action']} on "
        f"{resource['type']}/{resource['id']} ({resource['environment']})"
    )
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": APPROVE_ACTION_ID,
            "text": {"type": "plain_text", "text": "Approve"},
            "style": "primary",
            "value": escalation_id,
        },
        {
            "type": "button",
            "action_id": DENY_ACTION_ID,
            "text": {"type": "plain_text", "text": "Deny"},
            "style": "danger",
            "value": escalation_id,
        },
    ]
    if inbox_url:
        buttons.append(
            {
                "type": "button",
                "action_id": "clearance_open",
                "text": {"type": "plain_text", "text": "Open"},
                "url": f"{inbox_url.rstrip('/')}/escalations/{escalation_id}",
            }
        )
    return {
        "text": _cut(summary, _TEXT_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(summary, _HEADER_MAX)}},
            {
                "type": "section",
                "fields": [
                    _field("Who", who),
                    _field("What", f"`{_escape(escalation['action'])}`"),
                    _field("Where", where),
                    _field("Needs", needs),
                    _field("Expires", _when(int(escalation["expires_at"]))),
                    _field("Risk", risk or "no detector scores"),
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _cut("*Why*\n" + "\n".join(why_lines), _TEXT_MAX),
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": _cut(
                            f"escalation `{_escape(escalation_id)}` · event "
                            f"`{_escape(escalation.get('event_id', ''))}` · policy "
                            f"`{_escape(escalation.get('policy_version', ''))}`",
                            _TEXT_MAX,
                        ),
                    }
                ],
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK_ID,
                "label": {"type": "plain_text", "text": "Reason (required)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION_ID,
                    "multiline": True,
                },
            },
            {"type": "actions", "block_id": "clearance_decision", "elements": buttons},
        ],
    }


class SlackUser(NamedTuple):
    """The Slack user who clicked."""

    id: str
    name: str
    team_id: str | None


class SlackInteraction(NamedTuple):
    """A reviewer's click on approve or deny, as Slack reported it."""

    escalation_id: str
    verdict: str
    slack_user: SlackUser
    reason: str = ""
    response_url: str | None = None


def parse_interaction(form_body: bytes | str) -> SlackInteraction:
    """The escalation, verdict, user and typed reason of a ``block_actions`` form post.

    Call it only after :func:`verify_slack_signature` accepted the same raw body.

    Raises
    ------
    SlackError
        ``bad_payload`` when the body is not a click on Clearance's approve / deny buttons.
    """
    text = form_body.decode() if isinstance(form_body, bytes) else form_body
    try:
        payload = json.loads(parse_qs(text, strict_parsing=True)["payload"][0])
        if payload.get("type") != "block_actions":
            raise ValueError(f"type {payload.get('type')!r} is not block_actions")
        action = next(
            action for action in payload.get("actions", []) if action.get("action_id") in _VERDICTS
        )
        escalation_id = action["value"]
        if not isinstance(escalation_id, str) or not escalation_id:
            raise ValueError("the button carries no escalation id")
        user = payload["user"]
        slack_user = SlackUser(
            id=user["id"],
            name=user.get("username") or user.get("name") or user["id"],
            team_id=user.get("team_id") or (payload.get("team") or {}).get("id"),
        )
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, StopIteration) as exc:
        raise SlackError("bad_payload", f"not a Clearance approve/deny click: {exc!r}") from exc
    values = ((payload.get("state") or {}).get("values") or {}).get(REASON_BLOCK_ID) or {}
    reason = (values.get(REASON_ACTION_ID) or {}).get("value") or ""
    return SlackInteraction(
        escalation_id=escalation_id,
        verdict=_VERDICTS[action["action_id"]],
        slack_user=slack_user,
        reason=reason.strip(),
        response_url=payload.get("response_url"),
    )
