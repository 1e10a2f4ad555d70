"""Tests for redial.ami.transport: the daemon's protocol in front of panoramisk's, and reconnects that back off."""

from __future__ import annotations

import asyncio

from panoramisk import actions as pactions

from redial.ami import events as ev
from redial.ami.backoff import Backoff
from redial.ami.transport import BackoffManager, FastAmiProtocol


class WrittenTransport(asyncio.Transport):
    """Keeps what the protocol writes; sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)


def _protocol(events: list[ev.AmiEvent]) -> FastAmiProtocol:
    protocol = FastAmiProtocol(events.append)
    protocol.connection_made(WrittenTransport())
    return protocol


class TestFastAmiProtocol:
    """Needed events go straight to ``on_event``; replies still reach panoramisk's action futures."""

    def test_banner_gives_the_version(self) -> None:
        """The greeting line names the AMI version."""
        protocol = _protocol([])
        protocol.data_received(b"Asterisk Call Manager/11.0.0\r\n")
        assert protocol.version == "11.0.0"

    def test_event_is_delivered_decoded(self) -> None:
        """A Hangup frame reaches ``on_event`` as its typed record."""
        events: list[ev.AmiEvent] = []
        protocol = _protocol(events)
        protocol.data_received(
            b"Event: Hangup\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nChannel: PJSIP/t-1\r\nCause: 16\r\n\r\n"
        )
        assert events == [ev.ChannelHungUp(ev.ChannelRef("PJSIP/t-1", "1.1", "1.1"), 16, "")]

    async def test_reads_into_its_own_buffer_over_a_real_socket(self) -> None:
        """asyncio hands the protocol its buffer (no fresh bytes a read); frames split across reads arrive whole."""
        frame = b"Event: Hangup\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nChannel: PJSIP/t-1\r\nCause: 16\r\n\r\n"
        events: list[ev.AmiEvent] = []
        got_all = asyncio.Event()

        def arrived(event: ev.AmiEvent) -> None:
            events.append(event)
            if len(events) == 3:
                got_all.set()

        buffers: list[int] = []
        protocol = FastAmiProtocol(arrived)
        get_buffer = protocol.get_buffer
        protocol.get_buffer = lambda hint: buffers.append(hint) or get_buffer(hint)  # type: ignore[method-assign]

        async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for piece in (frame[:20], frame[20:] + frame, frame):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await asyncio.get_running_loop().create_connection(lambda: protocol, "127.0.0.1", port)
        try:
            await asyncio.wait_for(got_all.wait(), 2)
        finally:
            transport.close()
            server.close()
        assert events == [ev.ChannelHungUp(ev.ChannelRef("PJSIP/t-1", "1.1", "1.1"), 16, "")] * 3
        assert len(buffers) >= 3

    async def test_reply_completes_the_pending_action(self) -> None:
        """A Response with the action's ActionID resolves the future panoramisk handed out."""
        protocol = _protocol([])
        request = pactions.Action({"Action": "Ping"})
        future = protocol.send(request)
        protocol.data_received(f"Response: Success\r\nActionID: {request.id}\r\nPing: Pong\r\n\r\n".encode())
        reply = await asyncio.wait_for(future, 1)
        assert reply.get("Ping") == "Pong" and protocol.responses == {}


def _manager(backoff: Backoff, failures: list[BaseException]) -> BackoffManager:
    return BackoffManager(backoff, 0.5, failures.append, loop=asyncio.get_running_loop(), host="127.0.0.1", port=9)


class TestBackoffManager:
    """panoramisk's reconnect delay is the backoff's, and a failed connect is reported."""

    async def test_reconnect_delay_is_the_backoffs(self) -> None:
        """The delay read is the backoff's current one; panoramisk's own assignment is ignored."""
        backoff = Backoff(1, 8, uniform=lambda low, high: high)
        manager = _manager(backoff, [])
        backoff.advance()
        backoff.advance()
        manager.reconnect_timeout = 99
        assert manager.reconnect_timeout == backoff.current == 2

    async def test_stopped_manager_does_not_connect(self) -> None:
        """A retry scheduled before the link closed does nothing, not even advance the backoff."""
        backoff = Backoff(1, 8)
        manager = _manager(backoff, [])
        manager.stopped = True
        assert manager.connect() is None and backoff.attempts == 0

    async def test_failed_connect_is_reported(self) -> None:
        """A connect attempt that failed is reported; a cancelled one is not."""
        failures: list[BaseException] = []
        manager = _manager(Backoff(60, 60), failures)
        manager.stopped = True  # the retry scheduled after the failure then does nothing
        cancelled: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        cancelled.cancel()
        manager.connection_made(cancelled)
        failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        error = ConnectionRefusedError("refused")
        failed.set_exception(error)
        manager.connection_made(failed)
        assert failures == [error]
