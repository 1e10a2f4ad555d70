"""A TCP service on a loopback port: the FastAGI service and the status endpoint share its life cycle.

A service may take its listening socket from systemd (socket activation: ``LISTEN_FDS``,
the socket named by ``FileDescriptorName=`` after the service), so no other process can
ever hold its port. Each service bounds how many connections it serves at once: one past
the limit is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping
from pathlib import Path

import structlog

from redial.exceptions import PortUnavailable

# sd_listen_fds(3): the first socket systemd passes is file descriptor 3.
LISTEN_FDS_START = 3


def inherited_socket(name: str, environ: Mapping[str, str] = os.environ) -> socket.socket | None:
    """The listening socket systemd passed under ``name`` (``LISTEN_FDNAMES``), if any."""
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    names = environ.get("LISTEN_FDNAMES", "").split(":")
    for index in range(count):
        if index < len(names) and names[index] == name:
            return socket.socket(fileno=LISTEN_FDS_START + index)
    return None


def port_holder(port: int, proc: Path = Path("/proc")) -> str | None:
    """Who holds TCP ``port``: ``pid N (name)``, or a note that the holder is not visible; None if unknown."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            rows = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and int(fields[1].rpartition(":")[2], 16) == port and fields[9] != "0":
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        name = (entry / "comm").read_text().strip()
                        return f"pid {entry.name} ({name})"
    return "a process of another user (not visible to this one)"


class LoopbackService:
    """Subclasses set ``name`` and implement ``_handle``.

    A port in use is logged and ``start`` returns False, unless the service is ``required``:
    then it raises :class:`PortUnavailable`, naming the port and what holds it.
    """

    name = "service"
    required = False
    max_connections = 32

    def __init__(self, host: str, port: int, log: structlog.typing.FilteringBoundLogger | None = None) -> None:
        self.host, self.port = host, port
        self._log = log if log is not None else structlog.get_logger(f"redial.{self.name}")
        self._server: asyncio.Server | None = None
        self._active = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: served within the limit, else closed at once."""
        if self._active >= self.max_connections:
            self._log.warning(f"{self.name}_connection_refused", detail=f"{self.max_connections} already open")
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        self._active += 1
        try:
            await self._handle(reader, writer)
        finally:
            self._active -= 1

    async def start(self) -> bool:
        """Listen (on systemd's socket when it passed one); False (logged) when the port cannot be had."""
        inherited = inherited_socket(self.name)
        if inherited is not None:
            self._server = await asyncio.start_server(self._serve, sock=inherited)
            address = inherited.getsockname()
            self._log.info(f"{self.name}_listening", host=address[0], port=address[1], socket="systemd")
            return True
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            error = exc.strerror or str(exc)
            holder = port_holder(self.port)
            self._log.error(f"{self.name}_unavailable", host=self.host, port=self.port, error=error, held_by=holder)
            if self.required:
                raise PortUnavailable(self.name, self.host, self.port, error, holder) from None
            return False
        self._log.info(f"{self.name}_listening", host=self.host, port=self.port)
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
