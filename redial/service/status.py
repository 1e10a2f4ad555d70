"""The loopback status endpoint: ``GET /status`` (JSON), ``GET /metrics`` (Prometheus),
``POST /redials/<id>/cancel?by=<who>``. A few lines of HTTP/1.1, bounded in size and time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable

import structlog

from redial.core.jobs import CancelAnswer
from redial.service.loopback import LoopbackService

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT = 5.0
_CANCEL = re.compile(r"/redials/(\d{1,12})/cancel")


class StatusServer(LoopbackService):
    name = "status"

    def __init__(
        self,
        host: str,
        port: int,
        status: Callable[[], dict[str, object]],
        metrics: Callable[[], bytes],
        cancel: Callable[[int, str], Awaitable[CancelAnswer]],
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        super().__init__(host, port, log)
        self._status, self._metrics, self._cancel = status, metrics, cancel

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            method, _, target = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            url = urllib.parse.urlsplit(target.split(" ", 1)[0])
            status, ctype, body = await self._route(method, url.path, urllib.parse.parse_qs(url.query))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, ctype, body = 400, "text/plain", b"bad request\n"
        except Exception:
            self._log.exception("status_request_failed")
            status, ctype, body = 500, "text/plain", b"internal error\n"
        reason = {
            200: "OK",
            400: "Bad Request",
            404: "Not Found",
            405: "Method Not Allowed",
            500: "Error",
            503: "Service Unavailable",
        }[status]
        head_out = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        writer.write((head_out + "Connection: close\r\n\r\n").encode() + body)
        with contextlib.suppress(Exception):
            await writer.drain()
        writer.close()

    async def _route(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path == "/status" and method == "GET":
            return 200, "application/json", json.dumps(self._status(), sort_keys=True).encode() + b"\n"
        if path == "/metrics" and method == "GET":
            return 200, "text/plain; version=0.0.4; charset=utf-8", self._metrics()
        match = _CANCEL.fullmatch(path)
        if match:
            if method != "POST":
                return 405, "text/plain", b"use POST\n"
            who = (query.get("by") or ["unknown"])[0][:80]
            try:
                result = await asyncio.wait_for(self._cancel(int(match.group(1)), who), REQUEST_TIMEOUT)
            except TimeoutError:
                text = b"the daemon did not carry out the cancel in time; it may still: see redial status\n"
                return 503, "text/plain", text
            except Exception as exc:
                return 500, "text/plain", f"the cancel failed: {exc}\n".encode()
            answer = {"result": result.text, "cancelled": result.cancelled}
            return 200, "application/json", json.dumps(answer).encode() + b"\n"
        return 404, "text/plain", b"not found\n"
