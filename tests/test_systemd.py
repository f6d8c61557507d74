"""sd_notify over a real Unix datagram socket."""
from __future__ import annotations

import socket

from schedule.systemd import notify, watchdog_interval


def test_notify_sends_a_datagram(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("READY=1")
        assert server.recv(1024) == b"READY=1"


def test_without_systemd_notify_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_watchdog_interval_is_half_of_watchdog_sec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 10
    monkeypatch.setenv("WATCHDOG_PID", "1")           # meant for another process
    assert watchdog_interval() is None


def test_a_notify_socket_nobody_reads_never_stalls_the_daemon(tmp_path, monkeypatch):
    # A Unix datagram socket queues at most net.unix.max_dgram_qlen messages (10 by default,
    # Documentation/admin-guide/sysctl/net.rst); past that a blocking sendto() waits for a
    # reader for ever.  systemd always reads; a test harness or a wrapper may not.
    import threading

    path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    results: list[bool] = []
    sender = threading.Thread(target=lambda: results.extend(notify("WATCHDOG=1") for _ in range(200)), daemon=True)
    sender.start()
    sender.join(timeout=10)
    server.close()
    assert not sender.is_alive(), "notify() blocked on a full socket"
    assert len(results) == 200 and results[0] is True and results[-1] is False   # dropped, said, never stuck
