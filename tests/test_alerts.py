"""Tests for redial.service.alerts: webhook alerts against a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import structlog
from structlog.testing import capture_logs

from redial.exceptions import ConfigError
from redial.service.alerts import TRIES, Target, WebhookAlerts

PAYLOAD: dict[str, object] = {"event": "promise_unreached", "promise_id": 7, "customer": "+4930123456"}


@dataclass
class Receiver:
    """A webhook's far end: answers each request with the next status (the last one repeats)."""

    port: int = 0
    statuses: list[int] = field(default_factory=lambda: [204])
    requests: list[tuple[bytes, dict[str, str], bytes]] = field(default_factory=list)
    # Set to hold every answer back until it is set.
    release: asyncio.Event | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((lines[0].encode(), headers, body))
        if self.release is not None:
            await self.release.wait()
        status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()


async def settle(alerts: WebhookAlerts) -> None:
    """Until every alert under way is done."""
    for _ in range(500):
        if not alerts.in_flight:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("alerts still in flight")


def alerts_for(url: str, timeout: float = 2.0) -> WebhookAlerts:
    return WebhookAlerts(url, timeout, structlog.get_logger("test"), backoff=0.01)


class TestTarget:
    """A URL taken apart; only scheme, host and port are shown."""

    def test_parts_and_what_is_shown(self) -> None:
        """Path and query go in the request line, user and password in Basic auth; none in ``shown``."""
        target = Target.of("https://crm:s3cret@example.com/hooks/abc?key=tok")
        assert (target.host, target.port, target.target) == ("example.com", 443, "/hooks/abc?key=tok")
        assert target.authorization == "Basic Y3JtOnMzY3JldA=="
        assert target.shown == "https://example.com:443"
        assert Target.of("http://[::1]:8080").shown == "http://[::1]:8080"
        assert Target.of("http://h").target == "/" and Target.of("http://h").port == 80

    @pytest.mark.parametrize("url", ["ftp://user:pw@host/x", "http:///pw", "http://user:pw@host:99999/"])
    def test_no_http_url_refused(self, url: str) -> None:
        """Another scheme, no host or a bad port stops the start (exit 78) without repeating the URL."""
        with pytest.raises(ConfigError, match=r"promise\.webhook: expected an http") as caught:
            Target.of(url)
        assert "pw" not in str(caught.value)


class TestSending:
    """POSTed as JSON in the background; retried; logged without the URL's secrets."""

    async def test_posted_as_json_and_logged_by_host_only(self, receiver: Receiver) -> None:
        """The body is the payload; the log names scheme, host and port, never path, query or password."""
        alerts = alerts_for(f"http://hook:pw-9@127.0.0.1:{receiver.port}/in/tok-123?sig=abc")
        with capture_logs() as logs:
            alerts.send(PAYLOAD)
            await settle(alerts)
        line, headers, body = receiver.requests[0]
        assert line == b"POST /in/tok-123?sig=abc HTTP/1.1"
        assert headers["content-type"] == "application/json" and headers["authorization"].startswith("Basic ")
        assert json.loads(body) == PAYLOAD
        assert [entry["event"] for entry in logs] == ["alert_sent"]
        assert logs[0]["webhook"] == f"http://127.0.0.1:{receiver.port}" and logs[0]["tries"] == 1
        assert not any(word in str(logs) for word in ("tok-123", "sig=abc", "pw-9", "hook:"))

    async def test_send_never_waits_for_the_receiver(self, receiver: Receiver) -> None:
        """send() returns before the receiver answers; close() waits for the alert under way."""
        receiver.release = asyncio.Event()
        alerts = alerts_for(f"http://127.0.0.1:{receiver.port}/")
        alerts.send(PAYLOAD)
        assert alerts.in_flight == 1
        await asyncio.sleep(0.05)
        assert len(receiver.requests) == 1 and alerts.in_flight == 1
        asyncio.get_running_loop().call_later(0.05, receiver.release.set)
        with capture_logs() as logs:
            await alerts.close()
        assert alerts.in_flight == 0 and [entry["event"] for entry in logs] == ["alert_sent"]

    async def test_retried_after_an_error_status(self, receiver: Receiver) -> None:
        """A 500 is tried again; the second try's 200 ends it."""
        receiver.statuses = [500, 200]
        alerts = alerts_for(f"http://127.0.0.1:{receiver.port}/")
        with capture_logs() as logs:
            alerts.send(PAYLOAD)
            await settle(alerts)
        assert len(receiver.requests) == 2
        assert [(entry["event"], entry["tries"]) for entry in logs] == [("alert_sent", 2)]

    async def test_gives_up_after_three_tries(self, receiver: Receiver) -> None:
        """Three failures are one warning with the last error; no more tries."""
        receiver.statuses = [503]
        alerts = alerts_for(f"http://127.0.0.1:{receiver.port}/x?token=t0k")
        with capture_logs() as logs:
            alerts.send(PAYLOAD)
            await settle(alerts)
        assert len(receiver.requests) == TRIES
        assert [(entry["event"], entry["error"]) for entry in logs] == [("alert_failed", "answered HTTP 503")]
        assert "t0k" not in str(logs)

    async def test_each_try_bounded_by_the_timeout(self, receiver: Receiver) -> None:
        """A receiver that never answers costs each try the timeout, then the alert fails."""
        receiver.release = asyncio.Event()
        alerts = alerts_for(f"http://127.0.0.1:{receiver.port}/", timeout=0.1)
        with capture_logs() as logs:
            alerts.send(PAYLOAD)
            await settle(alerts)
        receiver.release.set()
        assert len(receiver.requests) == TRIES
        assert logs[0]["event"] == "alert_failed" and logs[0]["error"] == "no answer within 0.1s"

    async def test_https_speaks_tls(self, receiver: Receiver) -> None:
        """An https URL is sent over TLS: a plain-HTTP receiver fails the handshake, nothing is posted."""
        alerts = alerts_for(f"https://127.0.0.1:{receiver.port}/", timeout=0.5)
        with capture_logs() as logs:
            alerts.send(PAYLOAD)
            await settle(alerts)
        assert logs[0]["event"] == "alert_failed" and receiver.requests == []

    async def test_nothing_listening(self, receiver: Receiver) -> None:
        """A refused connection is an error in words, retried, then given up."""
        alerts = alerts_for("http://127.0.0.1:1/")
        with capture_logs() as logs:
            alerts.send(PAYLOAD)
            await settle(alerts)
        assert logs[0]["event"] == "alert_failed" and logs[0]["error"].startswith("cannot connect")

    async def test_no_url_sends_nothing(self) -> None:
        """Without a webhook an alert is only the log's and the status's."""
        alerts = WebhookAlerts(None, 1.0)
        alerts.send(PAYLOAD)
        assert alerts.in_flight == 0
        await alerts.close()

    async def test_retarget_after_a_reload(self, receiver: Receiver) -> None:
        """A reload's webhook takes over: none before, the new one after."""
        alerts = WebhookAlerts(None, 1.0)
        alerts.retarget(f"http://127.0.0.1:{receiver.port}/new", 1.0)
        alerts.send(PAYLOAD)
        await settle(alerts)
        assert receiver.requests[0][0] == b"POST /new HTTP/1.1"
        alerts.retarget(None, 1.0)
        alerts.send(PAYLOAD)
        assert alerts.in_flight == 0

    async def test_close_gives_up_what_is_left(self, receiver: Receiver) -> None:
        """An alert still waiting for its receiver at close() is dropped after the timeout, and said so."""
        receiver.release = asyncio.Event()
        alerts = alerts_for(f"http://127.0.0.1:{receiver.port}/", timeout=0.2)
        alerts.send(PAYLOAD)
        await asyncio.sleep(0.05)
        with capture_logs() as logs:
            await alerts.close()
        receiver.release.set()
        assert alerts.in_flight == 0
        assert [(entry["event"], entry["count"]) for entry in logs] == [("alerts_dropped", 1)]
