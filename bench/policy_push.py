"""Time from ``clearance policy push`` to the last revocation it causes, with many live grants.

Run::

    python -m clearance.bench.policy_push --grants 10000 --affected 0.5
    python -m clearance.bench.policy_push --bootstrap 127.0.0.1:9092   # an existing broker

It starts a local broker (unless ``--bootstrap``) and one ``clearance worker`` under
``tests/streams/policy_packs/v1``, opens ``--grants`` escalations (one principal each,
``--affected`` of them exporting the dataset that ``v2`` freezes), approves them all with
signed approvals, waits until every grant is live, then runs ``clearance policy push v2``
and reads ``<prefix>revocations`` (read_committed) until every affected grant is revoked.
Printed: the push command's own time (lint, tests, publish), and from the start of the
command to the first and to the last ``policy_change`` revocation (each record's timestamp,
set by the worker's producer when it sent it: the same machine clock as the start).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from clearance.approvals import generate_keypair, signed_approval
from clearance.schemas import Codec
from clearance.streams.decide import decision_id_for

PACKS = Path(__file__).resolve().parent.parent / "tests" / "streams" / "policy_packs"


def _consumer(bootstrap: str, topics: list[str]) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    consumer.subscribe(topics)
    return consumer


def _count_decisions(consumer: Consumer, kind: str, want: int, timeout: float) -> None:
    codec = Codec("Decision")
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(seen)} of {want} {kind} decisions after {timeout:.0f} s")
        for message in consumer.consume(5000, 0.5):
            if message.error() is None:
                record = codec.decode(message.value())
                if record["event_kind"] == kind:
                    seen.add(record["event_id"])


def run(bootstrap: str, grants: int, affected: float, workdir: Path) -> dict[str, Any]:
    key = generate_keypair("bench-reviewer")
    (workdir / "bench-reviewer.pem").write_text(key.public_pem())
    # Revocations carry a signed SET, as in production.
    (workdir / "bench-set.private.pem").write_text(generate_keypair("bench-set").private_pem())
    prefix = f"pp{uuid.uuid4().hex[:8]}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env.update(
        {
            "CLEARANCE_KAFKA_BOOTSTRAP": bootstrap,
            "CLEARANCE_DATA_DIR": str(workdir / "data"),
            "CLEARANCE_TOPIC_PREFIX": prefix,
            "CLEARANCE_APP_ID": f"{prefix}worker",
            "CLEARANCE_AUDIT_GROUP": f"{prefix}audit",
            "CLEARANCE_POLICY_PATH": str(PACKS / "v1"),
            "CLEARANCE_APPROVAL_KEYS": str(workdir / "bench-reviewer.pem"),
            "CLEARANCE_ONE_TIME_GRANT_SECONDS": "3600",
            "CLEARANCE_SET_SIGNING_KEY": str(workdir / "bench-set.private.pem"),
            "CLEARANCE_LOG_LEVEL": "warn",
        }
    )
    log = open(workdir / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "clearance.cli", "worker"], env=env, stdout=log, stderr=log
    )
    try:
        return _measure(bootstrap, prefix, env, key, grants, affected)
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()


def _measure(
    bootstrap: str, prefix: str, env: dict[str, str], key: Any, grants: int, affected: float
) -> dict[str, Any]:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    actions, approvals = Codec("ActionEvent"), Codec("Approval")
    decisions = _consumer(bootstrap, [prefix + "decisions"])
    n_affected = int(grants * affected)
    principals = [f"agent:bench-{i}" for i in range(grants)]
    event_ids = [uuid.uuid4().hex for _ in principals]
    now = int(time.time() * 1000)
    for i, (principal, event_id) in enumerate(zip(principals, event_ids, strict=True)):
        dataset = "customers" if i < n_affected else "payroll"
        event = {
            "event_id": event_id,
            "occurred_at": now,
            "principal": {"id": principal, "type": "agent", "roles": [], "on_behalf_of": None},
            "action": "data.export",
            "resource": {
                "type": "dataset",
                "id": dataset,
                "environment": "prod",
                "sensitivity": "restricted",
            },
            "session_id": None,
            "context": {},
        }
        producer.produce(prefix + "actions", actions.encode(event), key=principal.encode())
        producer.poll(0)
    producer.flush(60)
    started = time.monotonic()
    _count_decisions(decisions, "action", grants, 900)
    print(f"{grants} escalations decided in {time.monotonic() - started:.1f} s", flush=True)
    for principal, event_id in zip(principals, event_ids, strict=True):
        approval = {
            "approval_id": uuid.uuid4().hex,
            "escalation_id": decision_id_for("action", event_id),
            "verdict": "approve",
            "approver": {
                "id": "user:bench-steward",
                "type": "human",
                "roles": ["data-steward"],
                "on_behalf_of": None,
            },
            "reason": "bench",
            "decided_at": int(time.time() * 1000),
            "grant_seconds": None,
        }
        value = approvals.encode(signed_approval(approval, key.private_key, key.kid))
        producer.produce(prefix + "approvals", value, key=principal.encode())
        producer.poll(0)
    producer.flush(60)
    started = time.monotonic()
    _count_decisions(decisions, "approval", grants, 900)
    print(f"{grants} grants live in {time.monotonic() - started:.1f} s", flush=True)
    decisions.close()

    revocations = _consumer(bootstrap, [prefix + "revocations"])
    revocations.consume(100, 2.0)  # joined and positioned before the push
    codec = Codec("Revocation")
    pushed_at = time.time()
    push = subprocess.run(
        [sys.executable, "-m", "clearance.cli", "policy", "push", str(PACKS / "v2")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    push_seconds = time.time() - pushed_at
    if push.returncode != 0:
        raise SystemExit(push.stderr)
    appended: list[float] = []
    deadline = time.monotonic() + 600
    while len(appended) < n_affected and time.monotonic() < deadline:
        for message in revocations.consume(5000, 0.5):
            if message.error() is None:
                record = codec.decode(message.value())
                if record["reason_code"] == "policy_change":
                    if not record["set_jws"]:
                        raise SystemExit(f"revocation {record['revocation_id']} has no SET")
                    appended.append(message.timestamp()[1] / 1000)
    revocations.close()
    if len(appended) < n_affected:
        raise SystemExit(f"only {len(appended)} of {n_affected} revocations within 600 s")
    return {
        "grants": grants,
        "affected": n_affected,
        "push_command_s": round(push_seconds, 3),
        "push_to_first_revoke_s": round(min(appended) - pushed_at, 3),
        "push_to_last_revoke_s": round(max(appended) - pushed_at, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="An existing broker (else a local one is started).")
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--affected", type=float, default=0.5, help="Share the push revokes.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="policy-push-bench-") as tmp:
        workdir = Path(tmp)
        if args.bootstrap:
            result = run(args.bootstrap, args.grants, args.affected, workdir)
        else:
            from clearance.bench._space import free_port
            from clearance.localkafka import LocalKafka

            broker = LocalKafka(data_dir=workdir / "kafka", port=free_port())
            broker.up(timeout=180)
            try:
                result = run(broker.bootstrap, args.grants, args.affected, workdir)
            finally:
                broker.down()
    for name, value in result.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
