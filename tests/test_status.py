"""Tests for redial.service.status: the loopback TCP endpoint (``/metrics`` only) over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from redial.service.metrics import Metrics
from redial.service.status import MetricsServer
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
