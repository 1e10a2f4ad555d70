"""Tests for redial.service.notify against a real unix datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from redial.service.notify import Notifier


class TestNotifier:
    """READY, STATUS, WATCHDOG and STOPPING reach the socket; without one, nothing happens."""

    def test_messages_reach_the_socket(self, tmp_path: Path) -> None:
        path = str(tmp_path / "notify.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
            server.bind(path)
            notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
            assert notifier.ready("logged in") and notifier.watchdog() and notifier.stopping()
            received = [server.recv(1024).decode() for _ in range(3)]
        assert received == ["READY=1\nSTATUS=logged in", "WATCHDOG=1", "STOPPING=1"]
        assert notifier.watchdog_interval == 15.0

    def test_abstract_namespace(self) -> None:
        name = f"redial-test-{os.getpid()}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
            server.bind("\0" + name)
            assert Notifier({"NOTIFY_SOCKET": "@" + name}).status("x")
            assert server.recv(64) == b"STATUS=x"

    def test_not_under_systemd(self) -> None:
        notifier = Notifier({})
        assert not notifier.enabled and not notifier.ready("x") and notifier.watchdog_interval is None

    def test_watchdog_for_another_pid_is_ignored(self) -> None:
        assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval is None
