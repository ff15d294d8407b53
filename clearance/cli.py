"""``clearance``: the command line, a thin shell over the libraries and the worker.

Every command reads its settings once, here, from ``CLEARANCE_*`` variables. A
:class:`~clearance.errors.ClearanceError` is printed as one line with its fix and the exit
code it carries; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from clearance.config import Settings, load_settings
from clearance.errors import ClearanceError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _settings(**overrides: object) -> Settings:
    return load_settings(**overrides)


def user_errors(func: F) -> F:
    """Print a ClearanceError as one line and exit with its code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClearanceError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="clearance")
def main() -> None:
    """Continuous authorization for AI agents, ML pipelines and people, on Kafka."""


# -- kafka -------------------------------------------------------------------------------------


def _local_kafka(settings: Settings) -> Any:
    from clearance.localkafka import LocalKafka

    return LocalKafka(data_dir=settings.data_dir / "kafka", port=settings.kafka_port)


@main.group()
def kafka() -> None:
    """A local single-node Apache Kafka (KRaft) from Maven Central, without Docker."""


@kafka.command("up")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for it.")
@user_errors
def kafka_up(timeout: float) -> None:
    """Start the broker and return once it answers."""
    broker = _local_kafka(_settings())
    broker.up(timeout=timeout)
    click.echo(f"kafka is up at {broker.bootstrap} (data in {broker.data_dir})")


@kafka.command("down")
@user_errors
def kafka_down() -> None:
    """Stop the broker cleanly."""
    _local_kafka(_settings()).down()
    click.echo("kafka is down")


@kafka.command("status")
@user_errors
def kafka_status() -> None:
    """Say whether the broker runs and answers."""
    status = _local_kafka(_settings()).status()
    click.echo(json.dumps(_jsonable(status), indent=2))
    sys.exit(0 if status.answering else 1)


def _jsonable(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    data = asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj
    return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


# -- worker and audit --------------------------------------------------------------------------


@main.command()
@click.option(
    "--no-audit-sink",
    is_flag=True,
    help="Decide only; another process (`clearance audit sink`) records decisions.",
)
@user_errors
def worker(no_audit_sink: bool) -> None:
    """Run a deciding worker (and, by default, the audit sink beside it)."""
    from clearance.streams.worker import run_worker

    settings = _settings(audit_sink=False if no_audit_sink else None)
    run_worker(settings)


@main.group()
def audit() -> None:
    """The audit store: the sink that fills it and read-only SQL against it."""


@audit.command("sink")
@user_errors
def audit_sink() -> None:
    """Run the audit sink alone (decisions -> ClickHouse)."""
    from clearance.streams.worker import run_audit_sink

    run_audit_sink(_settings())


@audit.command("query")
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "tsv"]), default="table")
@user_errors
def audit_query(sql: str, fmt: str) -> None:
    """Run a read-only SQL query against the audit store.

    While a worker holds the embedded store, the query goes through its HTTP endpoint.
    """
    from clearance.audit import query

    settings = _settings()
    result = query(sql, settings.audit_dsn)
    click.echo(_format_result(result.columns, result.rows, fmt))


def _format_result(columns: list[str], rows: list[list[Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str)
    cells = [[str(c) for c in columns]] + [[str(v) for v in row] for row in rows]
    if fmt == "tsv":
        return "\n".join("\t".join(row) for row in cells)
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- detectors ---------------------------------------------------------------------------------


@main.group()
def detectors() -> None:
    """Anomaly detectors: train the unusual-access model from the audit trail."""


@detectors.command("train")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Model file.")
@click.option("--days", type=float, default=None, help="Only the last DAYS days of history.")
@click.option(
    "--min-events", default=1000, show_default=True, help="Refuse to train on less history."
)
@click.option("--limit", default=1_000_000, show_default=True, help="Most recent events used.")
@click.option("--seed", default=0, show_default=True, help="Seed of the isolation forest.")
@user_errors
def detectors_train(out: str, days: float | None, min_events: int, limit: int, seed: int) -> None:
    """Train the access model on the action decisions in the audit store and save it.

    The model file and its JSON sidecar (version, feature list, training size) are written to
    OUT and OUT.json; point CLEARANCE_ACCESS_MODEL_PATH at OUT to use it.
    """
    from clearance.audit import action_history
    from clearance.detectors import DetectorError, train_access_model

    settings = _settings()
    events = action_history(settings.audit_dsn, days=days, limit=limit)
    window = f"in the last {days:g} days" if days is not None else "in the audit store"
    if len(events) < min_events:
        raise ClearanceError(
            f"only {len(events)} action decisions {window} ({settings.audit_dsn}); training "
            f"needs at least {min_events}. Fix: let the worker decide more traffic first "
            "(keep CLEARANCE_ACCESS_MODEL_PATH unset meanwhile: the cold-start model "
            "scores), widen --days, or lower --min-events"
        )
    try:
        model = train_access_model(events, seed=seed)
    except DetectorError as exc:
        raise ClearanceError(
            f"cannot train on {len(events)} action decisions {window}: {exc}"
        ) from None
    sidecar = model.save(out)
    click.echo(
        f"trained {model.model_version} on {model.training_size} feature vectors from "
        f"{len(events)} action decisions {window}\n"
        f"features: {', '.join(model.feature_names)}\n"
        f"wrote {out} and {sidecar}\n"
        f"use it: CLEARANCE_ACCESS_MODEL_PATH={Path(out).resolve()}"
    )


# -- policy ------------------------------------------------------------------------------------


@main.group()
def policy() -> None:
    """Policy packs: test, lint, push to the workers, compare a shadow candidate."""


def _pack_path(path: str | None, settings: Settings) -> Path:
    from clearance.rules import DEFAULT_PACK_PATH

    if path:
        return Path(path)
    return settings.policy_path or Path(DEFAULT_PACK_PATH)


@policy.command("test")
@click.argument("path", required=False)
@click.option("--tests", "tests_path", help="Test cases (default: the pack's own *_test.yaml).")
@click.option("-v", "--verbose", is_flag=True, help="Print passing cases too.")
@user_errors
def policy_test(path: str | None, tests_path: str | None, verbose: bool) -> None:
    """Run a pack's YAML test cases: event -> expected effect and rules."""
    from clearance.rules import run_policy_tests

    report = run_policy_tests(
        _pack_path(path, _settings()), Path(tests_path) if tests_path else None
    )
    click.echo(report.render(verbose=verbose))
    sys.exit(0 if report.ok else 1)


@policy.command("lint")
@click.argument("path", required=False)
@user_errors
def policy_lint(path: str | None) -> None:
    """Report bad CEL, unknown fields and rules that can never match, with file:line."""
    from clearance.rules import lint_pack

    findings = lint_pack(_pack_path(path, _settings()))
    for finding in findings:
        click.echo(str(finding))
    errors = sum(1 for f in findings if f.severity == "error")
    click.echo(f"{errors} errors, {len(findings) - errors} warnings")
    sys.exit(1 if errors else 0)


@policy.command("push")
@click.argument("path")
@click.option(
    "--shadow", is_flag=True, help="Evaluate it beside the active pack without enforcing it."
)
@click.option("--by", "pushed_by", help="Who pushes it (default: $USER@host).")
@user_errors
def policy_push(path: str, shadow: bool, pushed_by: str | None) -> None:
    """Lint and test a pack, then publish it to every worker (a new policy version)."""
    import getpass
    import socket

    from clearance.streams.policy_releases import prepare_release, publish_release

    settings = _settings()
    who = pushed_by or f"{getpass.getuser()}@{socket.gethostname()}"
    release = prepare_release(Path(path), "shadow" if shadow else "active", who)
    partition, offset = publish_release(
        settings.kafka_bootstrap, settings.topic("policies"), release
    )
    click.echo(
        f"pushed {release['slot']} policy {release['version']} ({release['tests_passed']} "
        f"tests passed, {len(release['lint_warnings'])} lint warnings) by {who} to "
        f"{settings.topic('policies')}[{partition}]@{offset}"
    )


@policy.command("diff")
@click.option("--version", "version", help="Shadow version (default: the latest one).")
@click.option("--examples", default=3, show_default=True, help="Example event ids per change.")
@user_errors
def policy_diff(version: str | None, examples: int) -> None:
    """Where and how often the shadow pack decided differently from the enforced one."""
    from clearance.audit import policy_diff as diff

    click.echo(diff(_settings().audit_dsn, version, examples).render())


# -- approvals ---------------------------------------------------------------------------------


def _reviewer_call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    from clearance.reviewer_client import ReviewerApiError, call_reviewer_api

    status, answer = call_reviewer_api(_settings(), method, path, body)
    if status in (200, 202):
        return answer
    outcome = answer.get("outcome") or {}
    why = outcome.get("reason") or answer.get("error") or f"HTTP {status}"
    code = outcome.get("reason_code") or answer.get("code")
    raise ReviewerApiError(f"{why} ({code})" if code else why)


@main.group()
def escalations() -> None:
    """Escalated actions waiting for review (through the worker's reviewer API)."""


@escalations.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@user_errors
def escalations_list(as_json: bool) -> None:
    """The open escalations you may decide, soonest to expire first."""
    answer = _reviewer_call("GET", "escalations")
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    for item in answer["escalations"]:
        resource = item["resource"]
        click.echo(
            f"{item['escalation_id']}  {item['principal']['id']}  {item['action']}  "
            f"{resource['type']}:{resource['id']} ({resource['environment']})  "
            f"rules={','.join(item['rule_ids'])}  approvals={len(item['approvers'])}/"
            f"{item['quorum']}  expires_at={item['expires_at']}"
        )
    click.echo(f"{len(answer['escalations'])} open for {answer['reviewer']}")


@escalations.command("show")
@click.argument("escalation_id")
@user_errors
def escalations_show(escalation_id: str) -> None:
    """One escalation: who, what, where, why, and whether you may decide it."""
    click.echo(json.dumps(_reviewer_call("GET", f"escalations/{escalation_id}"), indent=2))


def _verdict(escalation_id: str, verdict: str, reason: str, grant_seconds: int | None) -> None:
    body: dict[str, Any] = {"reason": reason}
    if grant_seconds is not None:
        body["grant_seconds"] = grant_seconds
    answer = _reviewer_call("POST", f"escalations/{escalation_id}/{verdict}", body)
    outcome = answer.get("outcome")
    if outcome is None:
        click.echo(f"approval {answer['approval_id']} submitted; its outcome is not known yet")
        return
    click.echo(f"{outcome['reason']} (status {outcome['status']})")
    if outcome.get("grant_id"):
        click.echo(f"grant {outcome['grant_id']} expires at {outcome['grant_expires_at']}")


@main.command()
@click.argument("escalation_id")
@click.option("--reason", required=True, help="Why you approve; recorded in the audit trail.")
@click.option("--grant-seconds", type=click.IntRange(min=1), help="Shorten the grant to this.")
@user_errors
def approve(escalation_id: str, reason: str, grant_seconds: int | None) -> None:
    """Approve an escalation as the reviewer of CLEARANCE_REVIEWER_TOKEN."""
    _verdict(escalation_id, "approve", reason, grant_seconds)


@main.command()
@click.argument("escalation_id")
@click.option("--reason", required=True, help="Why you deny; recorded in the audit trail.")
@user_errors
def deny(escalation_id: str, reason: str) -> None:
    """Deny an escalation as the reviewer of CLEARANCE_REVIEWER_TOKEN."""
    _verdict(escalation_id, "deny", reason, None)


@main.group()
def keys() -> None:
    """Ed25519 keys that sign approvals."""


@keys.command("generate")
@click.option("--kid", required=True, help="Key id; the public key file is named after it.")
@click.option("--out", "out_dir", default=".", show_default=True, help="Directory to write to.")
@user_errors
def keys_generate(kid: str, out_dir: str) -> None:
    """Write KID.private.pem (the signer's, mode 0600) and KID.pem (the workers' keyring)."""
    from clearance.approvals import generate_keypair

    pair = generate_keypair(kid)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    private = out / f"{kid}.private.pem"
    if private.exists():
        raise ClearanceError(f"{private} exists. Fix: choose another --kid or --out")
    private.touch(mode=0o600)
    private.write_text(pair.private_pem())
    (out / f"{kid}.pem").write_text(pair.public_pem())
    click.echo(f"CLEARANCE_APPROVAL_SIGNING_KEY={private}\nCLEARANCE_APPROVAL_KEYS={out / kid}.pem")


@main.group()
def reviewers() -> None:
    """Reviewers of the HTTP API."""


@reviewers.command("token")
@click.argument("reviewer_id")
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeatable).")
@click.option("--slack-user-id", help="Their Slack user id, for the approve/deny buttons.")
@user_errors
def reviewers_token(reviewer_id: str, roles: tuple[str, ...], slack_user_id: str | None) -> None:
    """Make a bearer token; print it once, and the reviewers-file entry (hash only)."""
    from clearance.approvals import new_token, reviewer_entry

    token = new_token()
    click.echo(f"token (give it to {reviewer_id}; it is not stored): {token}")
    click.echo(json.dumps(reviewer_entry(reviewer_id, roles, token, slack_user_id)))


# -- demo and settings -------------------------------------------------------------------------


@main.command()
@click.option("--rate", default=200, show_default=True, help="Events per second to publish.")
@click.option("--duration", default=0, help="Seconds to run (0: until Ctrl-C).")
@click.option("--every", default=5.0, show_default=True, help="Seconds between summaries.")
@click.option("--malformed", default=0.01, show_default=True, help="Share of malformed messages.")
@user_errors
def demo(rate: int, duration: int, every: float, malformed: float) -> None:
    """Local broker + worker + demo traffic + a live summary read from ClickHouse."""
    from clearance.demo import run_demo

    run_demo(_settings(), rate=rate, duration=duration, every=every, malformed=malformed)


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@user_errors
def bench(args: tuple[str, ...]) -> None:
    """Throughput and latency on a real broker, with baselines (`clearance bench --help`)."""
    from clearance.bench.harness import main as bench_main

    sys.exit(bench_main(list(args)))


@main.command("config")
@user_errors
def show_config() -> None:
    """Print every setting, its value and what it means."""
    settings = _settings()
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        click.echo(f"CLEARANCE_{name.upper():<26} {value!s:<28} {info.description}")


if __name__ == "__main__":
    main()
