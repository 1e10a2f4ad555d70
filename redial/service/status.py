"""The few lines of HTTP/1.1 both endpoints speak, bounded in size and time, and the loopback
TCP endpoint: ``GET /metrics`` (Prometheus) and nothing else.

Status and operator actions (``/status``, cancel) go over the control socket
(:mod:`redial.service.control`), where the caller is known; over TCP they are 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Awaitable, Callable

import structlog

from redial.service.loopback import LoopbackService

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT = 5.0

# Status code, content type, body.
Response = tuple[int, str, bytes]
# method, path, query -> the response.
Route = Callable[[str, str, dict[str, list[str]]], Awaitable[Response]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Error",
    503: "Service Unavailable",
}
NOT_FOUND: Response = (404, "text/plain", b"not found\n")


async def serve_request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    route: Route,
    log: structlog.typing.FilteringBoundLogger,
) -> None:
    """Read one request, answer it with ``route``'s response, close the connection."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
        method, _, target = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        url = urllib.parse.urlsplit(target.split(" ", 1)[0])
        status, ctype, body = await route(method, url.path, urllib.parse.parse_qs(url.query))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        status, ctype, body = 400, "text/plain", b"bad request\n"
    except Exception:
        log.exception("request_failed")
        status, ctype, body = 500, "text/plain", b"internal error\n"
    head_out = f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    writer.write((head_out + "Connection: close\r\n\r\n").encode() + body)
    with contextlib.suppress(Exception):
        await writer.drain()
    writer.close()


class MetricsServer(LoopbackService):
    """``GET /metrics`` on a loopback port: counts by cause, trunk, reason and outcome, never a number."""

    name = "metrics"

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Callable[[], bytes],
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        super().__init__(host, port, log)
        self._metrics = metrics

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_request(reader, writer, self._route, self._log)

    async def _route(self, method: str, path: str, _query: dict[str, list[str]]) -> Response:
        if path != "/metrics":
            return NOT_FOUND
        if method != "GET":
            return 405, "text/plain", b"use GET\n"
        return 200, "text/plain; version=0.0.4; charset=utf-8", self._metrics()
