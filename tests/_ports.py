"""Free TCP ports for test brokers and workers."""

from __future__ import annotations

import random
import socket

__all__ = ["bindable", "free_port"]


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free port with a free neighbour (a broker's controller listens on port + 1).

    Picked below the kernel's ephemeral range (32768 and up), where an outgoing connection
    could take the port between this check and the broker's bind.
    """
    while True:
        port = random.randrange(20_000, 32_000)
        if bindable(port) and bindable(port + 1):
            return port
