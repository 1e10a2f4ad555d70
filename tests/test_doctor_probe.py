"""Tests for redial.tools.doctor.probe: pyst2's replies split into frames, and peers that never answer.

The probe against a real Asterisk is in test_integration_doctor.py.
"""

from __future__ import annotations

import hashlib
import socket
import socketserver
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
        settings = parse_settings({"ami": {"port": port, "secret": "s3cret-s3cret-s3cret"}}, env={})
        findings = list(diagnose(settings, admin=Admin("x", "y"), timeout=1))
        assert [(f.check, f.status) for f in findings] == [("AMI", Status.FAIL)]
        assert f"127.0.0.1:{port}" in findings[0].summary and "enabled = yes" in (findings[0].fix or "")


SECRET = "probe-secret-0123456789"


class Md5Peer(socketserver.ThreadingTCPServer):
    """A loopback AMI that, like manager.c, accepts a Login only as md5(challenge + secret); keeps every byte."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Md5Handler)
        self.received = bytearray()
        self.actions: list[dict[str, str]] = []


class _Md5Handler(socketserver.StreamRequestHandler):
    server: Md5Peer

    def handle(self) -> None:
        self.wfile.write(b"Asterisk Call Manager/11.0.0\r\n")
        block: dict[str, str] = {}
        for line in self.rfile:
            self.server.received += line
            text = line.decode().rstrip("\r\n")
            if text:
                key, _, value = text.partition(": ")
                block[key] = value
                continue
            self.server.actions.append(block)
            if block.get("Action") == "Logoff":  # as manager.c: Goodbye, then the socket closes
                self.wfile.write(f"Response: Goodbye\r\nActionID: {block.get('ActionID', '')}\r\n\r\n".encode())
                return
            self.wfile.write(self.answer(block).encode())
            block = {}

    def answer(self, action: dict[str, str]) -> str:
        aid = action.get("ActionID", "")
        if action.get("Action") == "Challenge" and action.get("AuthType") == "MD5":
            return f"Response: Success\r\nActionID: {aid}\r\nChallenge: 1804289383\r\n\r\n"
        key = hashlib.md5(f"1804289383{SECRET}".encode()).hexdigest()
        if action.get("Action") == "Login" and action.get("AuthType") == "MD5" and action.get("Key") == key:
            return f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n"
        return f"Response: Error\r\nActionID: {aid}\r\nMessage: Authentication failed\r\n\r\n"


@pytest.fixture
def md5_peer() -> Iterator[Md5Peer]:
    server = Md5Peer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# pyst2 0.5.1's threads call Event.isSet() and threading.currentThread(), deprecated since Python 3.10.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
class TestProbeLogin:
    """The doctor logs in with the MD5 challenge too: the secret never crosses the socket."""

    def test_md5_login(self, md5_peer: Md5Peer) -> None:
        """Challenge, then Login with Key: accepted, no byte of the secret sent; a wrong one refused."""
        probe = PbxProbe("127.0.0.1", md5_peer.server_address[1], timeout=2)
        try:
            probe.login("redial", SECRET)
        finally:
            probe.close()
        assert [a.get("Action") for a in md5_peer.actions[:2]] == ["Challenge", "Login"]
        assert SECRET.encode() not in md5_peer.received and b"Secret:" not in md5_peer.received
        # A wrong secret is a refused login, named by user.
        probe = PbxProbe("127.0.0.1", md5_peer.server_address[1], timeout=2)
        with pytest.raises(ProbeError, match="refused the login of AMI user 'redial'"):
            probe.login("redial", "not-the-secret-at-all")
