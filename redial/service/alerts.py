"""Alerts to a webhook: a JSON POST in the background, never in the caller's way.

``promise.webhook`` names the URL (http, or https with the system's CA store). Each alert
is tried up to three times, each try bounded by ``promise.webhook_timeout``, with a short
backoff between. A URL may carry a secret (a token in its path or query, a user and password
before the host), so the log names only its scheme, host and port. A user and password in the
URL are sent as HTTP Basic authentication.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
import urllib.parse
from dataclasses import dataclass

import structlog

from redial.exceptions import ConfigError

TRIES = 3
# Seconds before the second try; doubled before the third.
BACKOFF = 1.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where a webhook goes, taken apart; ``shown`` is all of it a log may name."""

    scheme: str
    host: str
    port: int
    target: str
    authorization: str

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @classmethod
    def of(cls, url: str) -> Target:
        """``url`` taken apart; :class:`ConfigError` (naming no part of it) if it is no http(s) URL with a host."""
        refused = ConfigError("promise.webhook", "expected an http:// or https:// URL with a host and a valid port")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise refused from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise refused
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authorization = ""
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return cls(parts.scheme, parts.hostname, port, target, authorization)


class WebhookError(Exception):
    """One try failed: the words say how, never the URL's path, query or credentials."""


class WebhookAlerts:
    """Sends alerts to ``url`` (None: none are sent) in background tasks; :meth:`close` waits for them."""

    def __init__(
        self,
        url: str | None,
        timeout: float,
        log: structlog.typing.FilteringBoundLogger | None = None,
        backoff: float = BACKOFF,
    ) -> None:
        self._target = None if url is None else Target.of(url)
        self.timeout, self._backoff = timeout, backoff
        self._log = log if log is not None else structlog.get_logger("redial.alerts")
        self._tasks: set[asyncio.Task[None]] = set()

    def retarget(self, url: str | None, timeout: float) -> None:
        """A reloaded configuration's webhook: alerts from now on go there (those under way carry on)."""
        self._target = None if url is None else Target.of(url)
        self.timeout = timeout

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def send(self, payload: dict[str, object]) -> None:
        """POST ``payload`` as JSON in the background; returns at once."""
        if self._target is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(self._target, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Wait up to the timeout for alerts under way; those still going then are given up (logged)."""
        if not self._tasks:
            return
        pending = set(self._tasks)
        _, left = await asyncio.wait(pending, timeout=self.timeout)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)
            self._log.warning("alerts_dropped", count=len(left), detail="still being sent when the daemon stopped")

    async def _deliver(self, target: Target, payload: dict[str, object]) -> None:
        try:
            await self._tries(target, payload)
        except Exception:
            # A bug must not vanish in a task nobody awaits.
            self._log.exception("alert_failed", webhook=target.shown, alert=payload.get("event"))

    async def _tries(self, target: Target, payload: dict[str, object]) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        alert = payload.get("event")
        error = ""
        for attempt in range(1, TRIES + 1):
            try:
                status = await asyncio.wait_for(self._post(target, body), self.timeout)
            except TimeoutError:
                error = f"no answer within {self.timeout:g}s"
            except WebhookError as exc:
                error = str(exc)
            else:
                if 200 <= status < 300:
                    self._log.info("alert_sent", webhook=target.shown, alert=alert, tries=attempt, status=status)
                    return
                error = f"answered HTTP {status}"
            if attempt < TRIES:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        self._log.warning("alert_failed", webhook=target.shown, alert=alert, tries=TRIES, error=error)

    async def _post(self, target: Target, body: bytes) -> int:
        """One POST; the answer's status code."""
        context = ssl.create_default_context() if target.scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                target.host, target.port, ssl=context, server_hostname=target.host if context else None
            )
        except ssl.SSLError as exc:
            raise WebhookError(f"TLS failed: {exc.reason or type(exc).__name__}") from None
        except OSError as exc:
            raise WebhookError(f"cannot connect: {exc.strerror or type(exc).__name__}") from None
        try:
            host = f"[{target.host}]" if ":" in target.host else target.host
            head = [
                f"POST {target.target} HTTP/1.1",
                f"Host: {host}:{target.port}",
                "User-Agent: redial",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                "Connection: close",
            ]
            if target.authorization:
                head.append(f"Authorization: {target.authorization}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
            line = await reader.readline()
        except OSError as exc:
            raise WebhookError(f"connection failed: {exc.strerror or type(exc).__name__}") from None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        fields = line.split()
        if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
            raise WebhookError("the answer was not HTTP")
        return int(fields[1])
