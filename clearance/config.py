"""Settings: one typed, frozen object, read from ``CLEARANCE_*`` environment variables.

Only the entry points (the CLI) call :func:`load_settings`; libraries get explicit values.
A wrong value stops the program at start with a :class:`~clearance.errors.ConfigError` that
names the variable, the value and the fix.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clearance.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "CLEARANCE_"

Effect = Literal["allow", "deny", "escalate", "revoke"]


class Settings(BaseSettings):
    """Every setting Clearance reads, with its environment variable ``CLEARANCE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port...]."
    )
    kafka_port: int = Field(
        9092, ge=1, le=65535, description="Port of the local broker `clearance kafka up` runs."
    )
    data_dir: Path = Field(
        Path("data"),
        description="Where local state lives: the local broker, the embedded audit store, "
        "Faust tables.",
    )
    clickhouse_dsn: str = Field(
        "",
        description="Audit store: chdb:///path (embedded, the default under DATA_DIR/audit) or "
        "http(s)://user:password@host:8123 (a ClickHouse server).",
    )
    policy_path: Path | None = Field(
        None, description="Policy pack (directory or YAML file); the shipped default pack if unset."
    )
    default_effect: Effect | None = Field(
        None, description="Effect when no rule matches; overrides the pack's default_effect."
    )
    topic_prefix: str = Field(
        "clearance.", pattern=r"^[A-Za-z0-9._-]*$", description="Prefix of every topic name."
    )
    topic_partitions: int = Field(
        4, ge=1, le=1024, description="Partitions of the topics Clearance creates."
    )
    topic_replication: int = Field(1, ge=1, le=16, description="Replication factor of topics.")
    app_id: str = Field(
        "clearance",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Faust app id: the deciding workers' consumer group.",
    )
    processing_guarantee: Literal["exactly_once", "at_least_once"] = Field(
        "exactly_once",
        description="exactly_once: decisions and input offsets commit in one Kafka transaction.",
    )
    detectors: Literal["none", "access"] = Field(
        "none",
        description="Detectors whose scores policies see: none, or access (unusual access).",
    )
    access_model_path: Path | None = Field(
        None, description="Trained access model file; the cold-start model if unset."
    )
    output_format: Literal["avro", "json"] = Field(
        "avro", description="Encoding of the messages Clearance produces."
    )
    max_message_bytes: int = Field(
        1_048_576, ge=1024, description="Larger input messages are dead-lettered as oversized."
    )
    batch_max_events: int = Field(
        2000, ge=1, description="Events the deciding agent takes from the stream at once."
    )
    batch_wait_ms: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Longest wait to fill a batch; bounds added latency (shorter waits make "
        "smaller batches, whose fixed cost per batch makes the worker fall behind sooner).",
    )
    commit_interval_ms: int = Field(
        200,
        ge=10,
        le=60_000,
        description="How often input offsets commit (under exactly_once: how often the "
        "transaction commits, so how soon read_committed consumers see decisions).",
    )
    audit_sink: bool = Field(
        True, description="Run the audit sink inside `clearance worker` (false: decide only)."
    )
    audit_group: str = Field("clearance-audit", description="Consumer group of the audit sink.")
    audit_batch_rows: int = Field(5000, ge=1, description="Rows per ClickHouse insert at most.")
    audit_batch_wait_ms: int = Field(
        200, ge=1, description="Longest wait before writing a partial audit batch."
    )
    audit_fetch_queue_kib: int = Field(
        16_384,
        ge=1024,
        le=2_097_151,
        description="Most KiB of fetched decisions the audit sink holds ahead of ClickHouse "
        "(librdkafka queued.max.messages.kbytes): bounds its memory when the store is slow.",
    )
    audit_drill_file: Path | None = Field(
        None,
        description="Fault drills only: while this file holds unreachable, lost-response or "
        "slow:<seconds>, the audit writer fails or slows every insert that way.",
    )
    web_host: str = Field("127.0.0.1", description="Address of the worker's HTTP server.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the worker's HTTP server.")
    approval_keys: str = Field(
        "",
        description="Public keys of the services that sign approvals: comma-separated files "
        "(PEM, kid = file name; JWK or JWK Set JSON) or an inline JWK Set. Unsigned or "
        "badly signed approvals are rejected.",
    )
    approval_signing_key: Path | None = Field(
        None,
        description="Ed25519 private key (PEM or JWK) with which the worker's reviewer API "
        "signs the verdicts it publishes; its API cannot approve without one.",
    )
    approval_signing_kid: str = Field(
        "", description="Key id of APPROVAL_SIGNING_KEY; the file name without suffix if unset."
    )
    reviewers_file: Path | None = Field(
        None,
        description="Reviewers of the HTTP API: YAML/JSON `reviewers: [{id, roles, "
        "token_sha256, slack_user_id?}]`.",
    )
    oidc_issuer: str = Field("", description="OIDC issuer whose ID tokens authenticate reviewers.")
    oidc_audience: str = Field("", description="Expected audience of those ID tokens.")
    oidc_jwks_url: str = Field("", description="JWKS URL of the OIDC issuer.")
    oidc_roles_claim: str = Field("roles", description="Claim holding a reviewer's roles.")
    escalation_timeout_effect: Literal["deny", "allow"] = Field(
        "deny", description="Effect of the decision closing an escalation undecided in time."
    )
    one_time_grant_seconds: int = Field(
        300, ge=1, description="How long a one-time grant stays usable after the approval."
    )
    set_issuer: str = Field(
        "urn:clearance", description="`iss` of the Security Event Tokens revocations carry."
    )
    set_audience: str = Field(
        "urn:clearance:enforcement-points",
        description="`aud` of the revocation SETs: comma-separated enforcement point ids.",
    )
    set_signing_key: Path | None = Field(
        None,
        description="Ed25519 private key (PEM or JWK) that signs each revocation's SET (its "
        "set_jws field); revocations carry no signed SET without one.",
    )
    set_signing_kid: str = Field(
        "", description="Key id of SET_SIGNING_KEY; the file name without suffix if unset."
    )
    approvals_tick_ms: int = Field(
        1000,
        ge=50,
        le=60_000,
        description="How often the worker closes timed-out escalations and revokes expired grants.",
    )
    session_idle_timeout_s: int = Field(
        1800,
        ge=60,
        le=7 * 24 * 3600,
        description="A session (an action event's session_id) not seen for this many seconds "
        "is closed: a policy change or a revoke no longer revokes it.",
    )
    sessions_per_principal: int = Field(
        16,
        ge=1,
        le=1000,
        description="Most open sessions kept per principal; opening one more forgets the one "
        "seen least recently.",
    )
    slack_webhook_url: str = Field(
        "", description="Slack incoming-webhook URL for new escalations; none sent if unset."
    )
    slack_signing_secret: SecretStr | None = Field(
        None, description="Slack signing secret; enables /clearance/slack/interactions."
    )
    reviewer_token: SecretStr | None = Field(
        None, description="Bearer token `clearance escalations/approve/deny` send to the worker."
    )
    worker_url: str = Field(
        "",
        description="Worker HTTP API for the reviewer commands; http://WEB_HOST:WEB_PORT if unset.",
    )
    log_level: Literal["debug", "info", "warn", "error"] = Field(
        "info", description="Worker log level."
    )
    gc_freeze: bool = Field(
        True,
        description="Once the worker has started and its tables have recovered, collect "
        "garbage and freeze what is left (gc.freeze): full collections then skip the "
        "long-lived state. The collector never looks at frozen objects again (one that "
        "later ends up in a garbage reference cycle stays in memory).",
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_port(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError("expected host:port[,host:port...]")
        return value

    @field_validator("clickhouse_dsn")
    @classmethod
    def _dsn_scheme(cls, value: str) -> str:
        if value and not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("expected chdb:///path or http(s)://user:password@host:8123")
        return value

    @field_validator("policy_path")
    @classmethod
    def _policy_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError("no such file or directory")
        return value

    @field_validator("approval_signing_key", "reviewers_file", "set_signing_key")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @property
    def api_url(self) -> str:
        """Base URL of the worker's HTTP API, for the reviewer commands."""
        return (self.worker_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def audit_dsn(self) -> str:
        """The audit store DSN, with the embedded default filled in."""
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{(self.data_dir / 'audit').resolve()}"

    def topic(self, name: str) -> str:
        """Full name of one of Clearance's topics, e.g. ``topic("actions")``."""
        return f"{self.topic_prefix}{name}"


_FIXES = {
    "kafka_bootstrap": "set it to host:port, for example 127.0.0.1:9092",
    "clickhouse_dsn": "use chdb:///absolute/path for the embedded store or "
    "http://user:password@host:8123 for a server",
    "approval_signing_key": "point it at the private key `clearance keys generate` wrote",
    "set_signing_key": "point it at the private key `clearance keys generate` wrote",
    "reviewers_file": "point it at a reviewers YAML file (see approvals/README.md)",
    "policy_path": "point it at a policy pack directory or YAML file, or unset it for the "
    "default pack",
}


def load_settings(environ: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
    """Read and validate settings from ``environ`` (default: the process environment).

    Raises
    ------
    ConfigError
        Naming the first bad variable, its value and the fix.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX)
    }
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, Settings.model_fields, n=1)
        fix = f"did you mean {ENV_PREFIX}{close[0].upper()}?" if close else "remove it"
        raise ConfigError(ENV_PREFIX + name.upper(), values[name], "unknown setting", fix)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        variable = ENV_PREFIX + field.upper()
        described = Settings.model_fields.get(field)
        fix = _FIXES.get(field) or (
            f"unset it to use the default ({described.default!r}); it is: {described.description}"
            if described
            else "see the settings table in README.md"
        )
        raise ConfigError(variable, values.get(field), error["msg"].lower(), fix) from None
