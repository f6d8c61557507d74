"""The sd_notify protocol: one datagram per message to $NOTIFY_SOCKET.

Written here rather than taken from a library: systemd-python needs libsystemd headers
to build, and the protocol is a single sendto() on a Unix datagram socket.
"""
from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send e.g. "READY=1", "WATCHDOG=1", "STATUS=...", "STOPPING=1".  False if not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]       # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        # Never wait: systemd reads at once, but a listener that does not (a wrapper, a test
        # harness) would otherwise stop the daemon on its heartbeat once the queue is full.
        sock.setblocking(False)
        try:
            sock.sendto(message.encode("utf-8"), address)
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec=), or None if not asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2
