"""Tests for redial.tools.doctor.probe: pyst2's replies split into frames, and peers that never answer.

The probe against a real Asterisk is in test_integration_doctor.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from redial.config import parse_settings
from redial.tools.doctor.findings import Status
from redial.tools.doctor.probe import PbxProbe, ProbeError, _reply_frames
from redial.tools.doctor.run import Admin, diagnose


class TestBlocks:
    """pyst2's glued replies split back into frames."""

    def test_glued_queue_status(self) -> None:
        raw = [
            "Response: Success\r\n",
            "EventList: start\r\n",
            "Message: Queue status will follow\r\n",
            "\r\n",
            "Event: QueueParams\r\n",
            "Queue: support\r\n",
            "\r\n",
            "Event: QueueMember\r\n",
            "Queue: support\r\n",
            "PausedReason: \r\n",
            "\r\n",
            "Event: QueueStatusComplete\r\n",
            "EventList: Complete\r\n",
            "\r\n",
        ]
        frames = _reply_frames(raw)
        assert [f.get("Event", f.get("Response")) for f in frames] == [
            "Success",
            "QueueParams",
            "QueueMember",
            "QueueStatusComplete",
        ]
        assert frames[2]["PausedReason"] == ""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback listener that accepts and never speaks (a real Asterisk cannot be made to do that)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


class TestProbeFailures:
    """Unreachable or wrong peers give one clear failure, never a hang."""

    def test_silent_peer_times_out(self, silent_port: int) -> None:
        probe = PbxProbe("127.0.0.1", silent_port, timeout=0.5)
        began = time.monotonic()
        with pytest.raises(ProbeError, match="sent nothing"):
            probe.login("redial", "x")
        assert time.monotonic() - began < 3

    def test_closed_port(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = parse_settings({"ami": {"port": port, "secret": "s"}}, env={})
        findings = list(diagnose(settings, admin=Admin("x", "y"), timeout=1))
        assert [(f.check, f.status) for f in findings] == [("AMI", Status.FAIL)]
        assert f"127.0.0.1:{port}" in findings[0].summary and "enabled = yes" in (findings[0].fix or "")
