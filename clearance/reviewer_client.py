"""The reviewer commands' HTTP client for the worker's reviewer API (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from clearance.config import Settings
from clearance.errors import ClearanceError

__all__ = ["ReviewerApiError", "call_reviewer_api"]


class ReviewerApiError(ClearanceError):
    """The worker's reviewer API cannot be reached or refused the request."""


def call_reviewer_api(
    settings: Settings, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """``(status, JSON answer)`` of one request; 4xx answers are returned, not raised.

    Raises
    ------
    ReviewerApiError
        No token configured, worker unreachable, or a non-JSON answer.
    """
    token = settings.reviewer_token
    if token is None:
        raise ReviewerApiError(
            "no reviewer token. Fix: set CLEARANCE_REVIEWER_TOKEN to the token your "
            "reviewers-file entry was made from"
        )
    url = (
        settings.api_url + "/clearance/" + "/".join(urllib.parse.quote(p) for p in path.split("/"))
    )
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {token.get_secret_value()}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            raise ReviewerApiError(f"{url} answered HTTP {exc.code} without JSON") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ReviewerApiError(
            f"cannot reach the worker at {settings.api_url} ({exc}). Fix: start `clearance "
            "worker`, or set CLEARANCE_WORKER_URL to its address"
        ) from None
