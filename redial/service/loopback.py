"""A TCP service on a loopback port: the FastAGI service and the status endpoint share its life cycle."""

from __future__ import annotations

import asyncio
import contextlib

import structlog


class LoopbackService:
    """Subclasses set ``name`` and implement ``_handle``; a port in use is logged, never fatal."""

    name = "service"

    def __init__(self, host: str, port: int, log: structlog.typing.FilteringBoundLogger | None = None) -> None:
        self.host, self.port = host, port
        self._log = log if log is not None else structlog.get_logger(f"redial.{self.name}")
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def start(self) -> bool:
        """Listen; False (logged) when the port cannot be had."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            self._log.error(f"{self.name}_unavailable", host=self.host, port=self.port, error=exc.strerror or str(exc))
            return False
        self._log.info(f"{self.name}_listening", host=self.host, port=self.port)
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
