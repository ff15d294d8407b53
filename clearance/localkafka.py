"""A local Apache Kafka broker for development and tests, run from Maven Central jars.

One JVM is both KRaft controller and broker (no ZooKeeper, no Docker). Maven resolves the
broker's jars from ``deploy/kafka/pom.xml`` into ``~/.m2`` once; the classpath is cached in
the data dir, keyed by the pom's hash, so later starts need neither Maven nor the network.
Everything the broker writes (server.properties, KRaft storage, logs, pid file) lives in the
data dir, so several brokers can run side by side on different ports and data dirs.

The pom is found relative to the source checkout (``<repo>/deploy/kafka/pom.xml``), because
Clearance is installed from its checkout and ``deploy/`` is not a Python package; pass ``pom=``
to use another one. ``log4j2.properties`` is taken from the pom's folder.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from clearance._kafka_setup import (
    DEFAULT_POM,
    JAVA_FIX,
    LocalKafkaError,
    hostport,
    jvm_options,
    maven_classpath,
    new_cluster_id,
    parse_heap,
    pom_kafka_version,
    require_tool,
    server_properties,
    tail,
)
from clearance._processes import bind_problem, command_line, has_exited, reap

__all__ = ["DEFAULT_POM", "KafkaStatus", "LocalKafka", "LocalKafkaError"]

# The setting of the CLI that moves the broker to another port.
_PORT_SETTING = "CLEARANCE_KAFKA_PORT"
_POLL_SECONDS = 0.2
# One metadata request; a busy two-core machine can take a few seconds to answer the first.
_PROBE_SECONDS = 5.0
# StorageTool is a short-lived command-line tool: the broker's heap would only slow its start.
_TOOL_HEAP = 256 * 1024 * 1024
_TRUNCATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


@dataclass(frozen=True)
class KafkaStatus:
    """What :meth:`LocalKafka.status` found.

    Attributes
    ----------
    running : bool
        A broker started from this data dir is alive.
    pid : int or None
        Its process id.
    bootstrap : str
        ``host:port`` clients connect to.
    answering : bool
        The broker answered a metadata request.
    version : str or None
        Kafka version of the running broker, else the version the pom pins.
    data_dir : Path
        Where the broker keeps its storage, configuration and logs.
    log_file : Path
        The broker's log.
    """

    running: bool
    pid: int | None
    bootstrap: str
    answering: bool
    version: str | None
    data_dir: Path
    log_file: Path


class LocalKafka:
    """A single-node Kafka broker (KRaft) living in one data dir.

    Parameters
    ----------
    data_dir : Path
        Holds KRaft storage, server.properties, logs, pid file and the cached classpath.
    port : int
        Port of the PLAINTEXT listener clients use.
    controller_port : int or None
        Port of the KRaft controller listener; ``port + 1`` when None.
    host : str
        Address both listeners bind to and the broker advertises.
    java : str
        Java executable (17 or newer), a name on PATH or a path.
    mvn : str
        Maven executable, needed only until the classpath is cached.
    pom : Path
        Maven pom that pins the Kafka version.
    heap : str
        Maximum JVM heap, in java's ``-Xmx`` syntax (``512m``, ``1g``).
    log_config : Path or None
        log4j2 configuration; ``log4j2.properties`` beside the pom when None.

    Raises
    ------
    LocalKafkaError
        A port is out of range, both ports are equal, or ``heap`` is not a heap size.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 9092,
        controller_port: int | None = None,
        host: str = "127.0.0.1",
        java: str = "java",
        mvn: str = "mvn",
        pom: Path = DEFAULT_POM,
        heap: str = "1g",
        log_config: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.controller_port = port + 1 if controller_port is None else controller_port
        self.host = host
        self.java = java
        self.mvn = mvn
        self.pom = Path(pom).expanduser().resolve()
        self.heap = heap
        self.log_config = (
            self.pom.parent / "log4j2.properties" if log_config is None else log_config
        )
        for name, value in (("port", self.port), ("controller_port", self.controller_port)):
            if not 0 < value < 65536:
                raise LocalKafkaError(f"{name}={value} is not a TCP port; use 1-65535")
        if self.port == self.controller_port:
            raise LocalKafkaError(
                f"port and controller_port are both {port}; give the controller another port"
            )
        self._heap_bytes = parse_heap(heap)
        self._classpath: str | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients' ``bootstrap.servers``."""
        return hostport(self.host, self.port)

    @property
    def log_file(self) -> Path:
        """The broker's log; its stdout and stderr (errors only) go to ``broker.out`` beside it."""
        return self.data_dir / "broker.log"

    @property
    def _out_file(self) -> Path:
        return self.data_dir / "broker.out"

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def _properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def _storage_dir(self) -> Path:
        return self.data_dir / "kraft"

    def classpath(self) -> str:
        """Return the broker's Java classpath, running Maven only if it is not cached yet.

        Returns
        -------
        str
            Jar paths joined with ``os.pathsep``.

        Raises
        ------
        LocalKafkaError
            The pom or Maven is missing, or Maven failed (with the end of its output).
        """
        if self._classpath is None:
            self._classpath = maven_classpath(self.pom, self.data_dir, self.mvn)
        return self._classpath

    def up(self, timeout: float = 90) -> None:
        """Start the broker unless it already runs, and wait until it answers.

        Storage is formatted only when the data dir has none, so topics and the cluster id
        survive restarts.

        Parameters
        ----------
        timeout : float
            Seconds to wait for the broker to answer a metadata request.

        Raises
        ------
        LocalKafkaError
            A port is taken, Java or Maven is missing, storage could not be formatted, or the
            broker died or did not answer in time (with the end of its log).
        """
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            pid = self._running_pid()
            if pid is not None:
                self._check_started_with_these_settings(pid)
                self._wait_until_answering(pid, deadline, timeout)
                return
            self._pid_file.unlink(missing_ok=True)
            self._check_ports_free()
            java = require_tool(self.java, "Java", JAVA_FIX)
            classpath = self.classpath()
            self._properties_file.write_text(self._server_properties())
            if not (self._storage_dir / "meta.properties").exists():
                self._format_storage(java, classpath)
            pid = self._start(java, classpath)
            try:
                self._wait_until_answering(pid, deadline, timeout)
            except LocalKafkaError:
                # A broker half-way up holds the ports and the storage lock; start over next time.
                self._signal_and_wait(pid, signal.SIGKILL, 10)
                self._pid_file.unlink(missing_ok=True)
                raise

    def down(self, timeout: float = 30) -> None:
        """Stop the broker cleanly: SIGTERM, then SIGKILL if it has not exited after ``timeout``.

        Does nothing if no broker from this data dir is running.
        """
        if not self.data_dir.is_dir():
            return
        with self._lock():
            pid = self._running_pid()
            if pid is not None and not self._signal_and_wait(pid, signal.SIGTERM, timeout):
                self._signal_and_wait(pid, signal.SIGKILL, 10)
            self._pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the broker at once with SIGKILL, as a crash would; the next :meth:`up` recovers."""
        if not self.data_dir.is_dir():
            return
        with self._lock():
            pid = self._running_pid()
            if pid is not None:
                self._signal_and_wait(pid, signal.SIGKILL, 10)
            self._pid_file.unlink(missing_ok=True)

    def restart(self, timeout: float = 90) -> None:
        """Stop the broker cleanly and start it again; ``timeout`` bounds the start."""
        self.down()
        self.up(timeout)

    def status(self) -> KafkaStatus:
        """Report whether the broker runs and answers; never starts or stops anything."""
        pid = self._running_pid()
        answering = pid is not None and _answers(self._admin(), _PROBE_SECONDS)
        version = None
        if pid is not None:
            jar = re.search(r"kafka_[\d.]+-([^/\\:; ]+?)\.jar", command_line(pid) or "")
            version = jar.group(1) if jar else None
        return KafkaStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=self.bootstrap,
            answering=answering,
            version=version or pom_kafka_version(self.pom),
            data_dir=self.data_dir,
            log_file=self.log_file,
        )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `clearance kafka up` at once must not both start a broker on one data dir.
        with open(self.data_dir / "localkafka.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _server_properties(self) -> str:
        return server_properties(self.host, self.port, self.controller_port, self._storage_dir)

    def _format_storage(self, java: str, classpath: str) -> None:
        command = [
            java,
            *jvm_options(min(self._heap_bytes, _TOOL_HEAP), self.log_config, self.data_dir),
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            new_cluster_id(),
            "--config",
            str(self._properties_file),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"formatting the KRaft storage in {self._storage_dir} failed "
                f"(exit {result.returncode}):\n{tail(result.stdout + result.stderr)}\n"
                f"Fix: if {self._storage_dir} holds old data, remove it (this deletes every topic)"
            )

    def _start(self, java: str, classpath: str) -> int:
        command = [
            java,
            *jvm_options(self._heap_bytes, self.log_config, self.data_dir),
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self._properties_file),
        ]
        # posix_spawn rather than Popen: the broker outlives this process, and a Popen object
        # dropped while its child runs warns. setsid: a Ctrl-C in the terminal of
        # `clearance kafka up` must not reach the broker.
        pid = os.posix_spawn(
            java,
            command,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(self._out_file), _TRUNCATE, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
        self._pid_file.write_text(f"{pid}\n")
        return pid

    def _admin(self) -> AdminClient:
        return AdminClient(
            {
                "bootstrap.servers": self.bootstrap,
                # Refused connections are expected while the broker starts; keep stderr clean.
                "log_level": 0,
                "reconnect.backoff.ms": 100,
                "reconnect.backoff.max.ms": 500,
            }
        )

    def _wait_until_answering(self, pid: int, deadline: float, timeout: float) -> None:
        admin = self._admin()
        while True:
            # ``pid`` is the child just spawned, so it cannot be another process until it is
            # reaped: ask whether it exited, not what its command line says (reading that
            # under load once reported a starting broker as gone, which was then killed).
            if has_exited(pid):
                logs = self._log_tails()
                raise LocalKafkaError(
                    f"the Kafka broker (pid {pid}) exited while starting.\n{logs}\n"
                    f"Fix: {_hint(logs)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LocalKafkaError(
                    f"the Kafka broker (pid {pid}) did not answer on {self.bootstrap} within "
                    f"{timeout:g} s.\n{self._log_tails()}\n"
                    "Fix: see the log above; on a busy machine pass a longer timeout"
                )
            if _answers(admin, min(_PROBE_SECONDS, remaining)):
                return
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _check_ports_free(self) -> None:
        for port, role in ((self.port, "client"), (self.controller_port, "KRaft controller")):
            problem = bind_problem(self.host, port)
            if problem is not None:
                raise LocalKafkaError(
                    f"port {port} on {self.host} ({role} listener of the local Kafka) is not "
                    f"free: {problem}. Fix: stop what listens there or set {_PORT_SETTING} to a "
                    "free port (the controller listens on the port after it)"
                )

    def _check_started_with_these_settings(self, pid: int) -> None:
        try:
            started_with = self._properties_file.read_text()
        except FileNotFoundError:
            return
        if started_with != self._server_properties():
            raise LocalKafkaError(
                f"a Kafka broker (pid {pid}) already runs from {self.data_dir} with other "
                f"settings than {self.bootstrap} (see {self._properties_file}). "
                "Fix: `clearance kafka down` first, or use the port it was started with"
            )

    def _running_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if self._is_our_broker(pid) else None

    def _is_our_broker(self, pid: int) -> bool:
        reap(pid)
        # The pid may belong to another process by now if the broker died long ago.
        args = command_line(pid)
        return args is not None and "kafka.Kafka" in args and str(self._properties_file) in args

    def _signal_and_wait(self, pid: int, signum: int, timeout: float) -> bool:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while not has_exited(pid):
            if time.monotonic() >= deadline:
                if signum == signal.SIGKILL:
                    raise LocalKafkaError(
                        f"the Kafka broker (pid {pid}) survived SIGKILL for {timeout:g} s. "
                        "Fix: check the process with `ps` and stop it by hand"
                    )
                return False
            time.sleep(0.1)
        return True

    def _log_tails(self) -> str:
        parts = []
        for path in (self._out_file, self.log_file):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            if text.strip():
                parts.append(f"--- last lines of {path} ---\n{tail(text)}")
        return "\n".join(parts) or f"(no broker output in {self.data_dir})"


def _answers(admin: AdminClient, timeout: float) -> bool:
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    # The broker is listed once the controller has unfenced it, i.e. it can lead partitions.
    return bool(metadata.brokers)


def _hint(logs: str) -> str:
    if "UnsupportedClassVersionError" in logs:
        return f"Kafka 4 needs Java 17 or newer: {JAVA_FIX}"
    if "Address already in use" in logs:
        return f"another process took the port; set {_PORT_SETTING} to a free port"
    return "see the log above; if the data dir is damaged, remove it (this deletes every topic)"
