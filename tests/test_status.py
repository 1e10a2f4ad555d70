"""Tests for redial.service.status: the loopback TCP endpoint (``/metrics`` only) over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import structlog

from redial.service.metrics import Metrics
from redial.service.status import MAX_REQUEST_BYTES, MetricsServer, Request, Response, serve_request
from tests.ports import free_port


async def http(port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
async def server() -> AsyncIterator[tuple[MetricsServer, Metrics]]:
    metrics = Metrics()
    srv = MetricsServer("127.0.0.1", free_port(), metrics.exposition)
    assert await srv.start()
    yield srv, metrics
    await srv.close()


class TestEndpoint:
    """Only /metrics over TCP; bad requests get 400."""

    async def test_metrics(self, server: tuple[MetricsServer, Metrics]) -> None:
        """Prometheus reads the counters."""
        srv, metrics = server
        metrics.drops.labels("44", "trunk").inc()
        code, body = await http(srv.port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert code == 200 and b'redial_drops_total{cause="44",trunk="trunk"} 1.0' in body
        assert (await http(srv.port, b"POST /metrics HTTP/1.1\r\n\r\n"))[0] == 405

    async def test_no_status_or_cancel_over_tcp(self, server: tuple[MetricsServer, Metrics]) -> None:
        """Any local user reaches a loopback port: status (customers' numbers) and cancel are not there."""
        srv, _ = server
        assert (await http(srv.port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"))[0] == 404
        assert (await http(srv.port, b"POST /redials/7/cancel?by=anyone HTTP/1.1\r\n\r\n"))[0] == 404

    async def test_unknown_and_garbage(self, server: tuple[MetricsServer, Metrics]) -> None:
        """Unknown paths are 404, an oversized head 400; a connection closed unasked harms nothing."""
        srv, _ = server
        assert (await http(srv.port, b"GET /nope HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await http(srv.port, b"GET " + b"x" * 70000 + b"\r\n\r\n"))[0] == 400
        _, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.close()
        assert (await http(srv.port, b"GET /metrics HTTP/1.1\r\n\r\n"))[0] == 200

    async def test_port_in_use(self, server: tuple[MetricsServer, Metrics]) -> None:
        """A port taken is logged and reported, never fatal."""
        srv, metrics = server
        other = MetricsServer("127.0.0.1", srv.port, metrics.exposition)
        assert not await other.start()


@pytest.fixture
async def echo() -> AsyncIterator[tuple[int, list[Request]]]:
    """A server answering every request with its body, recording what the route got."""
    seen: list[Request] = []

    async def route(request: Request) -> Response:
        seen.append(request)
        return 200, "text/plain", request.body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_request(reader, writer, route, structlog.get_logger("test"))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], seen
    server.close()


class TestFraming:
    """The head, the headers and a body of Content-Length bytes, bounded."""

    async def test_body_and_headers_reach_the_route(self, echo: tuple[int, list[Request]]) -> None:
        """Method, path, query, lower-cased header names and the body as sent."""
        port, seen = echo
        raw = b"POST /p?a=1 HTTP/1.1\r\nContent-Length: 5\r\nX-Thing:  v \r\n\r\nhello"
        assert await http(port, raw) == (200, b"hello")
        assert seen == [Request("POST", "/p", {"a": ["1"]}, {"content-length": "5", "x-thing": "v"}, b"hello")]

    async def test_expect_continue(self, echo: tuple[int, list[Request]]) -> None:
        """A client that waits for 100 Continue (curl, for larger bodies) gets it, then its answer."""
        port, _ = echo
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"ok")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\nok")

    async def test_bounds(self, echo: tuple[int, list[Request]], monkeypatch: pytest.MonkeyPatch) -> None:
        """Too large a body is 413, chunked 411, a bad length or a body cut short 400; no route runs."""
        port, seen = echo
        too_long = f"POST / HTTP/1.1\r\nContent-Length: {MAX_REQUEST_BYTES + 1}\r\n\r\n".encode()
        assert (await http(port, too_long))[0] == 413
        assert (await http(port, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))[0] == 411
        assert (await http(port, b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"))[0] == 400
        head = b"GET /" + b"x" * MAX_REQUEST_BYTES + b" HTTP/1.1\r\n\r\n"
        assert (await http(port, head))[0] == 400
        monkeypatch.setattr("redial.service.status.REQUEST_TIMEOUT", 0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 400") and seen == []
