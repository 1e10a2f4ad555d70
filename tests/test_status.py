"""Tests for redial.service.status: the loopback endpoint over a real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from redial.core.jobs import CancelAnswer
from redial.service.metrics import Metrics
from redial.service.status import StatusServer
from tests.ports import free_port


async def http(port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
async def server() -> AsyncIterator[tuple[StatusServer, list[tuple[int, str]], Metrics]]:
    cancels: list[tuple[int, str]] = []
    metrics = Metrics()

    async def cancel(redial_id: int, by: str) -> CancelAnswer:
        cancels.append((redial_id, by))
        return CancelAnswer(True, f"redial {redial_id} cancelled")

    srv = StatusServer("127.0.0.1", free_port(), lambda: {"running": True}, metrics.exposition, cancel)
    assert await srv.start()
    yield srv, cancels, metrics
    await srv.close()


class TestEndpoint:
    """Routes, methods and bad requests."""

    async def test_status_and_metrics(self, server: tuple[StatusServer, list[tuple[int, str]], Metrics]) -> None:
        srv, _, metrics = server
        metrics.drops.labels("44", "trunk").inc()
        code, body = await http(srv.port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert code == 200 and json.loads(body) == {"running": True}
        code, body = await http(srv.port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert code == 200 and b'redial_drops_total{cause="44",trunk="trunk"} 1.0' in body

    async def test_cancel(self, server: tuple[StatusServer, list[tuple[int, str]], Metrics]) -> None:
        srv, cancels, _ = server
        code, body = await http(srv.port, b"POST /redials/7/cancel?by=alice HTTP/1.1\r\n\r\n")
        assert (
            code == 200
            and json.loads(body) == {"result": "redial 7 cancelled", "cancelled": True}
            and cancels == [(7, "alice")]
        )
        assert (await http(srv.port, b"GET /redials/7/cancel HTTP/1.1\r\n\r\n"))[0] == 405

    async def test_unknown_and_garbage(self, server: tuple[StatusServer, list[tuple[int, str]], Metrics]) -> None:
        srv, _, _ = server
        assert (await http(srv.port, b"GET /nope HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await http(srv.port, b"GET " + b"x" * 70000 + b"\r\n\r\n"))[0] == 400
        _, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.close()
        assert (await http(srv.port, b"GET /status HTTP/1.1\r\n\r\n"))[0] == 200

    async def test_port_in_use(self, server: tuple[StatusServer, list[tuple[int, str]], Metrics]) -> None:
        srv, _, metrics = server
        other = StatusServer("127.0.0.1", srv.port, dict, metrics.exposition, lambda i, b: asyncio.sleep(0, ""))
        assert not await other.start()
