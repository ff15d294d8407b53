"""An enforcement point that follows clearance.revocations with confluent-kafka.

It reads every revocation (read_committed, so only what the workers committed), verifies
the signed SET when a public key is configured, and applies the CAEP event: drop a session,
take back a grant, or disable a credential. Replace ``enforce`` with your gateway's calls.

    pip install confluent-kafka fastavro pyjwt cryptography
    python examples/revocation_consumer.py --bootstrap 127.0.0.1:9092 \
        --set-key keys/clearance-set.pem --audience https://pep.example

Messages are Avro single-object encoded (``C3 01`` + schema fingerprint) or JSON, with the
schema ``schemas/Revocation.avsc``; ``clearance.schemas.Codec`` decodes both. Without the
clearance package, decode the ``set_jws`` field alone: it is a standard SET (RFC 8417).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError

from clearance.approvals import Keyring
from clearance.schemas import Codec, DecodeError
from clearance.signals import set_claims, set_problems, verify_set

log = logging.getLogger("revocation-consumer")

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"


def enforce(claims: dict[str, Any]) -> None:
    """Apply one revocation; here it only logs what a gateway would do."""
    ((event_type, event),) = claims["events"].items()
    subject = claims["sub_id"]
    user = subject.get("user", subject)["id"]
    if event_type == CAEP + "session-revoked":
        session = subject.get("session", {}).get("id", "every session")
        log.warning("drop %s of %s: %s", session, user, event["reason_admin"]["en"])
    elif event_type == CAEP + "token-claims-change":
        grant = event["claims"]["clearance_grant_revoked"]
        log.warning("take back grant %s of %s: %s", grant, user, event["reason_admin"]["en"])
    elif event_type == CAEP + "credential-change":
        log.warning("disable the credentials of %s: %s", user, event["reason_admin"]["en"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="clearance.revocations")
    parser.add_argument("--group", default="pep-gateway-1")
    parser.add_argument("--set-key", type=Path, help="Public key (PEM/JWK) that signs SETs.")
    parser.add_argument("--audience", default="urn:clearance:enforcement-points")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    keyring = Keyring.from_files([args.set_key]) if args.set_key else None
    codec = Codec("Revocation")
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            # Commit after enforcing: a crash re-applies, and revoking twice is harmless
            # (the jti, the revocation id, is the same).
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    try:
        while True:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    log.error("kafka: %s", message.error())
                continue
            try:
                revocation = codec.decode(message.value())
            except DecodeError as exc:
                log.error(
                    "%s[%d]@%d: %s",
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    exc.reason,
                )
                consumer.commit(message)
                continue
            if keyring is not None and revocation.get("set_jws"):
                claims = verify_set(revocation["set_jws"], keyring, args.audience)
            else:
                claims = set_claims(revocation["security_event"])
            problems = set_problems(claims)
            if problems:
                log.error("revocation %s breaks the SET rules: %s", claims.get("jti"), problems)
            enforce(claims)
            consumer.commit(message)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
