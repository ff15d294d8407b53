"""Approvals: escalations, reviewer verdicts, grants (plain library).

A privileged action that a rule escalates waits for human review. This package holds the
logic, with no streaming framework and no environment variables, so a worker, the CLI and
the tests run the same code; every piece of state is plain JSON data (``to_dict()``):

* :class:`EscalationState` / :class:`EscalationBook`: one escalation, and one principal's
  escalations; ``apply(approval, now_ms, keyring)`` checks a verdict (signature, escalation,
  replay, expiry, reason, self-approval, role, duplicate) and counts it toward the quorum
  or the deny quorum, returning an :class:`ApprovalOutcome` that says why in every case;
  ``expire`` closes undecided escalations with the timeout effect;
* :class:`Grant` / :class:`GrantBook`: what an approval lets a principal do (one action on
  one resource, one time or for a window), found for later events, consumed, expired;
* :func:`break_glass`: an emergency path that allows at once and opens a mandatory review;
* :mod:`~clearance.approvals.signing`: Ed25519 JWS over approvals, :class:`Keyring`;
* :mod:`~clearance.approvals.reviewers`, :mod:`~clearance.approvals.oidc`: reviewers by
  bearer token (stored as a hash) or by OIDC ID token;
* :mod:`~clearance.approvals.slack`: the webhook message and the interactivity checks;
* :mod:`~clearance.approvals.inbox`: what a reviewer may decide.
"""

from ._errors import (
    AuthError,
    GrantError,
    KeyringError,
    ReviewerFileError,
    SignatureError,
    SlackError,
)
from .breakglass import (
    BreakGlassOutcome,
    break_glass,
    break_glass_refusal,
    break_glass_requested,
    review_id_for,
)
from .escalation import REQUESTED_SECONDS_KEY, EscalationState
from .escalation_book import EscalationBook
from .grants import (
    DEFAULT_ONE_TIME_SECONDS,
    Grant,
    GrantBook,
    ResourceScope,
    grant_duration_seconds,
    grant_id_for,
)
from .inbox import decidable_by, may_decide, why_not
from .oidc import OidcVerifier
from .outcomes import (
    APPROVAL_REASON_CODES,
    ApprovalOutcome,
    EscalationStatus,
    ExpiryOutcome,
    TimeoutEffect,
)
from .reviewers import (
    Reviewer,
    ReviewerAuthenticator,
    ReviewerDirectory,
    bearer_token,
    hash_token,
    new_token,
    reviewer_entry,
)
from .signing import (
    Keyring,
    SigningKeyPair,
    VerifiedSigner,
    canonical_approval,
    generate_keypair,
    load_signing_key,
    sign_approval,
    signed_approval,
    verify_approval,
)
from .slack import (
    SlackInteraction,
    SlackUser,
    escalation_message,
    parse_interaction,
    verify_slack_signature,
)

__all__ = [
    "APPROVAL_REASON_CODES",
    "DEFAULT_ONE_TIME_SECONDS",
    "REQUESTED_SECONDS_KEY",
    "ApprovalOutcome",
    "AuthError",
    "BreakGlassOutcome",
    "EscalationBook",
    "EscalationState",
    "EscalationStatus",
    "ExpiryOutcome",
    "Grant",
    "GrantBook",
    "GrantError",
    "Keyring",
    "KeyringError",
    "OidcVerifier",
    "ResourceScope",
    "Reviewer",
    "ReviewerAuthenticator",
    "ReviewerDirectory",
    "ReviewerFileError",
    "SignatureError",
    "SigningKeyPair",
    "SlackError",
    "SlackInteraction",
    "SlackUser",
    "TimeoutEffect",
    "VerifiedSigner",
    "bearer_token",
    "break_glass",
    "break_glass_refusal",
    "break_glass_requested",
    "canonical_approval",
    "decidable_by",
    "escalation_message",
    "generate_keypair",
    "grant_duration_seconds",
    "grant_id_for",
    "hash_token",
    "load_signing_key",
    "may_decide",
    "new_token",
    "parse_interaction",
    "review_id_for",
    "reviewer_entry",
    "sign_approval",
    "signed_approval",
    "verify_approval",
    "verify_slack_signature",
    "why_not",
]
