"""panoramisk's transport, adapted: the daemon's own frame parser, and reconnects that back off.

Both classes are what :class:`~redial.ami.connection.AmiLink` hands panoramisk:
:class:`FastAmiProtocol` as its protocol factory's product, :class:`BackoffManager`
as the Manager that owns the socket and its reconnect loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from redial.ami import events as ev
from redial.ami.backoff import Backoff
from redial.ami.frames import EventCutter

__all__ = ["BackoffManager", "FastAmiProtocol"]


# Bytes one socket read may bring: most reads of a busy PBX are a few frames.
READ_BUFFER = 64 * 1024


class FastAmiProtocol(AMIProtocol, asyncio.BufferedProtocol):  # type: ignore[misc]
    """panoramisk's protocol with the daemon's parser in front of it.

    panoramisk builds a case-insensitive Message for every frame and matches it
    against every registered pattern; most of a busy PBX's frames are events the
    daemon never reads. Here :class:`~redial.ami.frames.EventCutter` decodes the
    needed events straight from the bytes and hands the records to ``on_event``;
    everything else panoramisk needs (responses, list events, FullyBooted,
    Shutdown) goes through its own ``Message.from_line`` and ``handle_message``.

    It reads into one buffer of its own (asyncio's buffered protocol): a plain
    protocol gets a fresh 256 KiB bytes object from every read, which glibc maps
    and unmaps each time (three syscalls and page faults a read).
    """

    def __init__(
        self,
        on_event: Callable[[ev.AmiEvent], None],
        on_undecodable: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.cutter = EventCutter(on_event, self._panoramisk_frame, on_undecodable)
        self.version: str | None = None
        self._buffer = memoryview(bytearray(READ_BUFFER))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._buffer[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        if self.version is None and data.startswith(b"Asterisk Call Manager/"):
            banner, _, _ = data.partition(b"\r\n")
            self.version = banner.partition(b"/")[2].decode("ascii", "replace").strip()
        # No action awaiting an answer: no frame can be a reply, all events take the fast path.
        self.cutter.actions_pending = bool(self.responses)
        self.cutter.feed(data)

    def _panoramisk_frame(self, text: str) -> None:
        message = Message.from_line(text)
        if message is not None:
            self.handle_message(message)


class BackoffManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with growing, jittered reconnect delays.

    panoramisk schedules every reconnect with ``call_later(self.reconnect_timeout, self.connect)``
    (after a refused connection and after a lost one), so the delay is read from the
    backoff here and advanced on each connect attempt.
    """

    def __init__(
        self,
        backoff: Backoff,
        connect_timeout: float,
        on_connect_failed: Callable[[BaseException], None],
        **config: Any,
    ) -> None:
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._on_connect_failed = on_connect_failed
        self.stopped = False
        self.connecting: asyncio.Task[Any] | None = None
        super().__init__(**config)

    @property
    def reconnect_timeout(self) -> float:
        return self._backoff.current

    @reconnect_timeout.setter
    def reconnect_timeout(self, _value: float) -> None:
        # panoramisk's __init__ assigns its fixed delay; the backoff decides instead.
        pass

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        """panoramisk's connect with a time limit: a black-holed SYN would otherwise take
        the kernel's two minutes of retries, with nothing logged meanwhile."""
        if self.stopped:  # a retry panoramisk scheduled before the link was closed
            return None
        self._backoff.advance()
        config = self.config
        connection = self.loop.create_connection(
            config["protocol_factory"], config["host"], config["port"], ssl=config["ssl"]
        )
        task = self.loop.create_task(asyncio.wait_for(connection, self._connect_timeout))
        task.add_done_callback(self.connection_made)
        self.connecting = task
        return task

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        # panoramisk reports a failed connect only to its own logger (which the daemon
        # silences), and retries only after an OSError.
        if f.cancelled():
            return
        exc = f.exception()
        if exc is not None:
            self._on_connect_failed(exc)
            if not isinstance(exc, OSError):
                self.loop.call_later(self.reconnect_timeout, self.connect)
                return
        super().connection_made(f)
