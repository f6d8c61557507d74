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
