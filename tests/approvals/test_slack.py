"""Slack: request signatures (v0), the webhook message, and parsing button clicks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from clearance.approvals import (
    SlackError,
    escalation_message,
    parse_interaction,
    verify_slack_signature,
)
from clearance.approvals.slack import (
    APPROVE_ACTION_ID,
    DENY_ACTION_ID,
    REASON_ACTION_ID,
    REASON_BLOCK_ID,
    slack_signature,
)

# The worked example of Slack's "Verifying requests from Slack" documentation.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
    b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
DOC_NOW = float(DOC_TIMESTAMP)


def _code(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "signing_secret": DOC_SECRET,
        "timestamp": DOC_TIMESTAMP,
        "body": DOC_BODY,
        "signature": DOC_SIGNATURE,
        "now": DOC_NOW,
        **changes,
    }
    with pytest.raises(SlackError) as caught:
        verify_slack_signature(**arguments)
    return caught.value.reason_code


def test_slacks_documented_example_verifies() -> None:
    assert slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    verify_slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY, DOC_SIGNATURE, DOC_NOW)
    verify_slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY.decode(), DOC_SIGNATURE, DOC_NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"signing_secret": "another-secret"},
        {"body": DOC_BODY + b"&user_id=U0ADMIN"},
        {"signature": DOC_SIGNATURE[:-1] + "4"},
        {"signature": "v1=" + DOC_SIGNATURE[3:]},
        # A valid signature of the same body at another time does not carry over.
        {"timestamp": str(int(DOC_TIMESTAMP) + 1)},
    ],
)
def test_a_bad_signature_is_refused(changes) -> None:
    assert _code(**changes) == "bad_signature"


def test_requests_older_than_five_minutes_are_refused() -> None:
    verify_slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY, DOC_SIGNATURE, DOC_NOW + 300)
    assert _code(now=DOC_NOW + 301) == "stale"


def test_requests_more_than_five_minutes_ahead_are_refused() -> None:
    verify_slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY, DOC_SIGNATURE, DOC_NOW - 300)
    assert _code(now=DOC_NOW - 301) == "future"


def test_missing_or_garbled_headers_are_refused() -> None:
    assert _code(timestamp=None) == "missing_header"
    assert _code(signature="") == "missing_header"
    assert _code(timestamp="yesterday") == "bad_timestamp"


def _texts(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def test_the_message_says_who_what_where_why_and_risk(escalation_record) -> None:
    record = escalation_record()
    message = escalation_message(record)
    assert json.loads(json.dumps(message)) == message
    text = _texts(message)
    for expected in (
        "agent:etl-7",
        "acting for `user:alice`",
        "data.export",
        "customers",
        "*prod*",
        "restricted",
        "data.export.sensitive.approval",
        "agent:etl-7 exports restricted data",
        "unusual_access 0.91",
        "data-steward",
        "esc-0001",
    ):
        assert expected in text, expected
    assert "agent:etl-7" in message["text"]
    assert len(message["blocks"][0]["text"]["text"]) <= 150


def test_the_buttons_carry_the_escalation_id(escalation_record) -> None:
    message = escalation_message(escalation_record(escalation_id="esc-42"))
    actions = next(block for block in message["blocks"] if block["type"] == "actions")
    buttons = {button["action_id"]: button for button in actions["elements"]}
    assert buttons[APPROVE_ACTION_ID]["value"] == "esc-42"
    assert buttons[DENY_ACTION_ID]["value"] == "esc-42"
    assert (buttons[APPROVE_ACTION_ID]["style"], buttons[DENY_ACTION_ID]["style"]) == (
        "primary",
        "danger",
    )
    reason = next(block for block in message["blocks"] if block["type"] == "input")
    assert (reason["block_id"], reason["element"]["action_id"]) == (
        REASON_BLOCK_ID,
        REASON_ACTION_ID,
    )
    assert "clearance_open" not in buttons
    linked = escalation_message(escalation_record(escalation_id="esc-42"), inbox_url="https://r/")
    link = linked["blocks"][-1]["elements"][-1]
    assert link["url"] == "https://r/escalations/esc-42"


def test_event_data_cannot_inject_mentions_or_links(escalation_record) -> None:
    record = escalation_record(
        reasons=["<!channel> please approve <https://evil.test|this> & more"]
    )
    text = _texts(escalation_message(record))
    assert "<!channel>" not in text and "<https://evil.test" not in text
    assert "&lt;!channel&gt;" in text and "&amp; more" in text


def test_long_values_are_cut_to_slack_limits(escalation_record) -> None:
    record = escalation_record(reasons=["x" * 5000], action="data." + "y" * 300)
    message = escalation_message(record)
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert all(len(field["text"]) <= 2000 for field in message["blocks"][1]["fields"])
    assert len(message["blocks"][2]["text"]["text"]) <= 3000


def _click(action_id: str, value: str, reason: str | None = "checked the ticket") -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U0CAROL", "username": "carol", "team_id": "T1"},
        "team": {"id": "T1"},
        "response_url": "https://hooks.slack.test/actions/1",
        "actions": [{"action_id": action_id, "block_id": "clearance_decision", "value": value}],
        "state": {"values": {}},
    }
    if reason is not None:
        payload["state"]["values"][REASON_BLOCK_ID] = {
            REASON_ACTION_ID: {"type": "plain_text_input", "value": f"  {reason} "}
        }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_an_approve_click_is_parsed(escalation_record) -> None:
    message = escalation_message(escalation_record(escalation_id="esc-42"))
    approve = message["blocks"][-1]["elements"][0]
    escalation_id, verdict, slack_user, *rest = parse_interaction(
        _click(approve["action_id"], approve["value"])
    )
    assert (escalation_id, verdict) == ("esc-42", "approve")
    assert (slack_user.id, slack_user.name, slack_user.team_id) == ("U0CAROL", "carol", "T1")
    assert rest == ["checked the ticket", "https://hooks.slack.test/actions/1"]


def test_a_deny_click_without_a_reason_is_parsed_with_an_empty_reason() -> None:
    interaction = parse_interaction(_click(DENY_ACTION_ID, "esc-42", reason=None).decode())
    assert (interaction.verdict, interaction.reason) == ("deny", "")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=not-json",
        b"something=else",
        urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(),
        urlencode({"payload": json.dumps(["block_actions"])}).encode(),
        _click("some_other_button", "esc-42"),
        _click(APPROVE_ACTION_ID, ""),
    ],
)
def test_other_posts_are_refused(body) -> None:
    with pytest.raises(SlackError) as caught:
        parse_interaction(body)
    assert caught.value.reason_code == "bad_payload"
