"""What the local Kafka broker needs before it starts: tools, jars and configuration."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from clearance.errors import ClearanceError

__all__ = [
    "DEFAULT_POM",
    "JAVA_FIX",
    "MAVEN_FIX",
    "LocalKafkaError",
    "hostport",
    "jvm_options",
    "maven_classpath",
    "new_cluster_id",
    "parse_heap",
    "pom_kafka_version",
    "require_tool",
    "server_properties",
    "tail",
]

# Clearance is installed from its source checkout and deploy/ is no Python package, so the pom
# is found beside the package folder rather than shipped as package data.
DEFAULT_POM = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "pom.xml"

JAVA_FIX = (
    "install a Java runtime 17 or newer (e.g. `apt-get install -y openjdk-17-jre-headless`) "
    "or put one on PATH"
)
MAVEN_FIX = "install Maven (e.g. `apt-get install -y maven`) or put it on PATH"

_MAVEN_TIMEOUT_SECONDS = 900
_TAIL_LINES = 30
_MIN_HEAP = 128 * 1024 * 1024
_MAX_INITIAL_HEAP = 256 * 1024 * 1024

_SERVER_PROPERTIES = """\
# Written by clearance.localkafka on every start; edits here are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{controller_hostport}
listeners=PLAINTEXT://{hostport},CONTROLLER://{controller_hostport}
advertised.listeners=PLAINTEXT://{hostport}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dir}

# One broker: every internal topic can only have one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The 50-partition defaults make the first consumer group and first transaction slow to set up
# on a small machine; a single-node dev broker gains nothing from them.
offsets.topic.num.partitions=8
transaction.state.log.num.partitions=8

# Clearance creates its topics explicitly. An auto-created topic gets num.partitions no matter
# what it is joined with, which breaks the co-partitioning Faust tables need.
auto.create.topics.enable=false
# For topics created without a partition count: Faust's default (topic_partitions=8).
num.partitions=8
# One consumer joins at a time in development; waiting for more only delays every start.
group.initial.rebalance.delay.ms=0
# After a crash the controller refuses the restarted broker until the old session expires
# (9 s by default); heartbeats stay inside this JVM, so a shorter session is safe.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

# A dev box: keep a day of data, at most 256 MiB per partition. Smaller segments let retention
# actually delete (it removes whole closed segments only). Compacted topics (Faust changelogs)
# are cleaned by key instead.
log.retention.hours=24
log.retention.bytes=268435456
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
# The log cleaner's 128 MiB default dedupe buffer is a large part of a 1 GiB heap.
log.cleaner.dedupe.buffer.size=33554432
# Two cores are shared with the workers; Kafka's defaults assume a server.
num.network.threads=2
num.io.threads=4
"""


class LocalKafkaError(ClearanceError):
    """The local Kafka broker could not be set up, started or stopped."""


def require_tool(name: str, what: str, fix: str) -> str:
    """Return the full path of executable ``name``, or raise saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise LocalKafkaError(f"{what} executable {name!r} not found. Fix: {fix}")
    return path


def maven_classpath(pom: Path, cache_dir: Path, mvn: str) -> str:
    """Return the classpath ``pom`` resolves to, running Maven only when no cache is valid.

    The cache file in ``cache_dir`` is named after the pom's hash, so editing the pom (a new
    Kafka version) resolves again; a cache naming jars that are gone is resolved again too.

    Parameters
    ----------
    pom : Path
        The pom whose dependencies make up the classpath.
    cache_dir : Path
        Folder for the cached classpath.
    mvn : str
        Maven executable; looked up only when Maven has to run.

    Returns
    -------
    str
        Jar paths joined with ``os.pathsep``.

    Raises
    ------
    LocalKafkaError
        The pom or Maven is missing, or Maven failed (with the end of its output).
    """
    if not pom.is_file():
        raise LocalKafkaError(
            f"Kafka pom not found at {pom}; it ships in the Clearance source checkout as "
            "deploy/kafka/pom.xml. Fix: run from a checkout or pass pom=<path to pom.xml>"
        )
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    cache = cache_dir / f"classpath-{digest}.txt"
    classpath = _read_classpath(cache)
    if classpath is not None:
        return classpath
    maven = require_tool(mvn, "Maven", MAVEN_FIX)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _run_maven(maven, pom, cache)
    classpath = _read_classpath(cache)
    if classpath is None:
        raise LocalKafkaError(
            f"Maven resolved {pom} but the classpath it wrote to {cache} names missing jars. "
            "Fix: delete that file and ~/.m2/repository/org/apache/kafka, then retry"
        )
    return classpath


def _run_maven(mvn: str, pom: Path, cache: Path) -> None:
    partial = cache.with_suffix(".partial")
    command = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:build-classpath",
        "-Dmdep.includeScope=runtime",
        f"-Dmdep.outputFile={partial}",
    ]
    # Offline first: once the jars are in ~/.m2 this needs no network and is quicker.
    for attempt in ([*command[:1], "-o", *command[1:]], command):
        try:
            result = subprocess.run(
                attempt,
                capture_output=True,
                text=True,
                timeout=_MAVEN_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalKafkaError(
                f"Maven did not resolve {pom} within {_MAVEN_TIMEOUT_SECONDS} s. "
                "Fix: check that Maven Central is reachable, then retry"
            ) from exc
        if result.returncode == 0 and partial.is_file():
            os.replace(partial, cache)
            return
    raise LocalKafkaError(
        f"Maven failed to resolve the Kafka jars from {pom} (exit {result.returncode}):\n"
        f"{tail(result.stdout + result.stderr)}\n"
        "Fix: check that Maven Central is reachable and the pom is valid, then retry"
    )


def _read_classpath(cache: Path) -> str | None:
    try:
        classpath = cache.read_text().strip()
    except FileNotFoundError:
        return None
    if not classpath or not all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
        return None
    return classpath


def server_properties(host: str, port: int, controller_port: int, log_dir: Path) -> str:
    """Return the server.properties of a single-node KRaft broker listening on ``host``."""
    return _SERVER_PROPERTIES.format(
        hostport=hostport(host, port),
        controller_hostport=hostport(host, controller_port),
        log_dir=log_dir,
    )


def jvm_options(heap_bytes: int, log_config: Path, logs_dir: Path) -> list[str]:
    """Return the java options for Kafka's tools and broker.

    Raises
    ------
    LocalKafkaError
        ``log_config`` does not exist.
    """
    if not log_config.is_file():
        raise LocalKafkaError(
            f"log4j2 configuration not found at {log_config}; it ships beside the pom. "
            "Fix: restore deploy/kafka/log4j2.properties or pass log_config=<path>"
        )
    initial = min(heap_bytes, _MAX_INITIAL_HEAP)
    return [
        f"-Xms{initial // 1024}k",
        f"-Xmx{heap_bytes // 1024}k",
        # The GC settings of Kafka's own start script.
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        # A JVM crash report lands in the data dir rather than wherever the caller stood.
        f"-XX:ErrorFile={logs_dir}/hs_err_pid%p.log",
        f"-Dlog4j2.configurationFile={log_config}",
        f"-Dkafka.logs.dir={logs_dir}",
    ]


def parse_heap(heap: str) -> int:
    """Return the bytes of a java heap size such as ``512m`` or ``1g``."""
    match = re.fullmatch(r"(\d+)([kKmMgG])", heap.strip())
    if match is None:
        raise LocalKafkaError(f"heap={heap!r} is not a heap size; write it like 512m or 1g")
    scale = {"k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    size = int(match.group(1)) * scale
    if size < _MIN_HEAP:
        raise LocalKafkaError(
            f"heap={heap!r} is too small for a Kafka broker; give it 128m or more"
        )
    return size


def new_cluster_id() -> str:
    """Return a random KRaft cluster id, as ``kafka-storage random-uuid`` would."""
    # Kafka's Uuid.toString: URL-safe base64 of 16 random bytes without padding; ids that start
    # with "-" are rejected by Kafka's command-line tools.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def pom_kafka_version(pom: Path) -> str | None:
    """Return the pom's ``kafka.version`` property, or None if it has none."""
    try:
        root = ElementTree.parse(pom).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    return root.findtext("m:properties/m:kafka.version", namespaces=namespace)


def hostport(host: str, port: int) -> str:
    """Return ``host:port``, bracketing IPv6 addresses."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tail(text: str, lines: int = _TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a tool's output, without terminal colour codes."""
    # Debian's Maven colours its output even with -B and style.color=never.
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    return "\n".join(plain.rstrip().splitlines()[-lines:])
