"""The OpenAPI 3.1 description of the reviewer API, served at ``/clearance/openapi.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_ID = {"name": "escalation_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {
    "description": "The request cannot be served; `error` says why.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _verdict(verb: str, what: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"{verb} an escalation",
            "description": f"Signs a `{what}` verdict for the authenticated reviewer and "
            "publishes it on clearance.approvals; the worker checks it like any approval "
            "(role, self-approval, quorum, expiry, replay). Waits up to 10 s for the outcome.",
            "security": _BEARER,
            "parameters": [_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Verdict"}}
                },
            },
            "responses": {
                "200": {"description": "The verdict counted; `outcome` is its audit record."},
                "202": {"description": "Published; the outcome was not known within 10 s."},
                "400": _ERROR,
                "401": _ERROR,
                "404": _ERROR,
                "409": {"description": "The verdict was rejected; `outcome.reason` says why."},
                "503": _ERROR,
            },
        }
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Clearance reviewer API",
        "version": "1",
        "description": "Escalated actions waiting for human review, and verdicts on them.",
    },
    "paths": {
        "/clearance/escalations": {
            "get": {
                "summary": "Inbox: open escalations the reviewer may decide",
                "security": _BEARER,
                "responses": {
                    "200": {"description": "`escalations`, soonest to expire first."},
                    "401": _ERROR,
                },
            }
        },
        "/clearance/escalations/{escalation_id}": {
            "get": {
                "summary": "One escalation: who, what, where, why, and whether you may decide it",
                "security": _BEARER,
                "parameters": [_ID],
                "responses": {
                    "200": {"description": "The escalation."},
                    "401": _ERROR,
                    "404": _ERROR,
                },
            }
        },
        "/clearance/escalations/{escalation_id}/approve": _verdict("Approve", "approve"),
        "/clearance/escalations/{escalation_id}/deny": _verdict("Deny", "deny"),
        "/clearance/slack/interactions": {
            "post": {
                "summary": "Slack interactivity: approve/deny buttons",
                "description": "Verifies Slack's v0 request signature (HMAC-SHA256, 5-minute "
                "window) before acting; the Slack user must be in the reviewers file.",
                "responses": {"200": {"description": "An ephemeral Slack message."}, "401": _ERROR},
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A reviewer token from the reviewers file, or an OIDC ID token.",
            }
        },
        "schemas": {
            "Verdict": {
                "type": "object",
                "required": ["reason"],
                "properties": {
                    "reason": {"type": "string", "minLength": 1},
                    "grant_seconds": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Shorten the grant (approve only); never lengthens it.",
                    },
                },
            },
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
        },
    },
}
