"""The few lines of HTTP/1.1 every endpoint speaks, bounded in size and time, and the loopback
TCP endpoint: ``GET /metrics`` (Prometheus) and nothing else.

Status and operator actions (``/status``, cancel, promises) go over the control socket
(:mod:`redial.service.control`), where the caller is known; over TCP they are 404 here
(a CRM's promises have their own port and token: :mod:`redial.service.promise_api`).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from redial.service.loopback import LoopbackService

# The most a request may be: its head, and its body on its own.
MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT = 5.0

# Status code, content type, body.
Response = tuple[int, str, bytes]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as read: header names in lower case; the body as sent (Content-Length, bounded)."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


# The request -> the response.
Route = Callable[[Request], Awaitable[Response]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Error",
    503: "Service Unavailable",
}
NOT_FOUND: Response = (404, "text/plain", b"not found\n")


class _Refused(Exception):
    """A request this framing does not take: its status and the reason in words."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request:
    """The head, then a body of Content-Length bytes (at most MAX_REQUEST_BYTES); raises :class:`_Refused`."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_REQUEST_BYTES:
        raise _Refused(400, "request head too large")
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, _, target = lines[0].partition(" ")
    url = urllib.parse.urlsplit(target.split(" ", 1)[0])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "transfer-encoding" in headers:
        raise _Refused(411, "send the body with a Content-Length, not chunked")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise _Refused(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_REQUEST_BYTES:
        raise _Refused(413, f"the body may be at most {MAX_REQUEST_BYTES} bytes")
    if length:
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(length)
    return Request(method, url.path, urllib.parse.parse_qs(url.query), headers, body)


async def serve_request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    route: Route,
    log: structlog.typing.FilteringBoundLogger,
) -> None:
    """Read one request (head and body within REQUEST_TIMEOUT), answer it with ``route``'s response, close."""
    try:
        try:
            request = await asyncio.wait_for(read_request(reader, writer), REQUEST_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            raise _Refused(400, "bad request") from None
        status, ctype, body = await route(request)
    except _Refused as refused:
        status, ctype, body = refused.status, "text/plain", f"{refused.text}\n".encode()
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

    async def _route(self, request: Request) -> Response:
        if request.path != "/metrics":
            return NOT_FOUND
        if request.method != "GET":
            return 405, "text/plain", b"use GET\n"
        return 200, "text/plain; version=0.0.4; charset=utf-8", self._metrics()
