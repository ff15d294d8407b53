"""docker-compose.yml is valid for Docker users (checked with docker-compose; no engine here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_is_valid_and_wires_the_worker_to_kafka_and_clickhouse() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is missing: `make system-deps` installs it"
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"kafka", "clickhouse", "worker"}
    worker_env = services["worker"]["environment"]
    assert worker_env["CLEARANCE_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert worker_env["CLEARANCE_CLICKHOUSE_DSN"].startswith("http://")
    assert "clickhouse:8123" in worker_env["CLEARANCE_CLICKHOUSE_DSN"]
    kafka_env = services["kafka"]["environment"]
    # Exactly-once needs the transaction log to fit a single broker.
    assert kafka_env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
