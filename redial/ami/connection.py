"""The live AMI link: panoramisk as transport, kept thin, with its pitfalls guarded.

- The daemon logs in itself (panoramisk's own login ignores a refusal), always with
  the MD5 challenge, so the secret never crosses the socket (there is no fallback to
  a plain login, whatever the peer answers), and sends its own timed Ping:
  panoramisk's never checks for an answer, so a dead peer would go unnoticed.
  A missed Pong aborts the transport; panoramisk reconnects.
- Every action has a timeout; a timed-out action is removed from panoramisk's
  table so its future does not leak.
- Every action is "forgettable": panoramisk re-sends unanswered actions after a
  reconnect, and an Originate sent twice rings the agent twice.
- Events are decoded in the transport callback and handed to a plain callable
  (the daemon puts them on its queue): panoramisk's coroutine callbacks would be
  fire-and-forget and lose both exceptions and ordering.
- The bytes are cut by the daemon's own protocol (``FastAmiProtocol``): only the
  events the daemon reads are decoded, straight to typed records; responses and
  list events still take panoramisk's path, so its action futures work unchanged.

panoramisk's protocol and Manager, adapted, are in :mod:`redial.ami.transport`;
the state asked for after each login, in :mod:`redial.ami.login_snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from panoramisk import Manager
from panoramisk import actions as pactions
from panoramisk.message import Message

from redial.ami import events as ev
from redial.ami.actions import (
    Action,
    assert_header_safe,
    challenge_action,
    extension_state_action,
    login_action,
    pause_action,
)
from redial.ami.backoff import Backoff
from redial.ami.login_snapshot import live_channels, pbx_started, queue_members
from redial.ami.transport import BackoffManager, FastAmiProtocol
from redial.config import AmiSettings
from redial.exceptions import AmiNotConnected, AmiRefused, AmiTimeout

__all__ = ["LOGIN_EVENTS", "AmiLink", "FastAmiProtocol"]

# Everything the daemon sends: none of it may be re-sent by panoramisk after a reconnect.
_NEVER_RESEND = (
    "challenge",
    "login",
    "logoff",
    "ping",
    "originate",
    "coreshowchannels",
    "status",
    "queuestatus",
    "queuepause",
    "queuelog",
    "corestatus",
    "extensionstate",
    "command",
)
# The event classes the daemon reads; the AMI user's read permission limits them too.
LOGIN_EVENTS = "call,agent"


class AmiLink:
    """One AMI session that keeps itself logged in."""

    def __init__(
        self,
        settings: AmiSettings,
        on_event: Callable[[ev.AmiEvent], None],
        on_login: Callable[
            [
                tuple[ev.LiveChannel, ...],
                tuple[ev.MemberState | ev.QueueWaiting, ...],
                str,
                int,
                tuple[ev.AmiEvent, ...],
            ],
            None,
        ],
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        self._settings = settings
        self._on_event = on_event
        self._on_login = on_login
        self._log = log if log is not None else structlog.get_logger("redial.ami")
        self._manager: Manager | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._logged_in = False
        self._closing = False
        # One per login. The core applies each login's snapshot (LinkUp) in its own
        # time; until it has applied the current one, no Originate goes out: its
        # ChannelId would be missing from the older snapshot, and the core would take
        # the new call for one that ended while the link was down.
        self._generation = 0
        self._applied = -1
        # Events that arrive while the snapshot is taken: delivered right after it, in order.
        self._held: list[ev.AmiEvent] | None = None
        self.logins = 0
        self.connected_since: float | None = None
        self.backoff = Backoff(settings.reconnect_delay, settings.reconnect_max)

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    @property
    def ready(self) -> bool:
        """Logged in, and the core has applied this login's snapshot: Originates may go out."""
        return self._logged_in and self._applied == self._generation

    def snapshot_applied(self, generation: int) -> None:
        """The core applied the snapshot of login ``generation`` (a stale one changes nothing)."""
        if generation == self._generation:
            self._applied = generation

    def _deliver(self, event: ev.AmiEvent) -> None:
        if self._held is not None:
            self._held.append(event)
        else:
            self._on_event(event)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._manager = BackoffManager(
            self.backoff,
            self._settings.action_timeout,
            self._connect_failed,
            loop=loop,
            host=self._settings.host,
            port=self._settings.port,
            ssl=False,
            encoding="utf8",
            # Disable panoramisk's own blind ping; ours checks the answer.
            ping_delay=10**9,
            ping_interval=10**9,
            forgetable_actions=_NEVER_RESEND,
            on_connect=self._connected,
            on_disconnect=self._disconnected,
            protocol_factory=self._protocol,
        )
        self._manager.register_event("*", self._event)
        self._manager.connect()

    def _protocol(self) -> FastAmiProtocol:
        return FastAmiProtocol(self._deliver, self._undecodable)

    def _undecodable(self, name: str) -> None:
        self._log.exception("ami_event_undecodable", ami_event=name)

    async def close(self) -> None:
        self._closing = True
        self._logged_in = False
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._manager is not None:
            # Stop panoramisk's reconnect loop before closing the socket.
            self._manager.stopped = True
            self._manager.connection_lost = lambda exc: None
            if self._manager.connecting is not None:
                self._manager.connecting.cancel()
            self._manager.close()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _connected(self, manager: Manager) -> None:
        if self._closing:
            return
        self._log.info("ami_connected", host=self._settings.host, port=self._settings.port)
        self._spawn(self._login())

    def _connect_failed(self, exc: BaseException) -> None:
        if self._closing:
            return
        if isinstance(exc, TimeoutError):
            error = f"no answer within {self._settings.action_timeout:g} s"
        else:
            error = str(exc) or type(exc).__name__
        self._log.warning(
            "ami_connect_failed",
            host=self._settings.host,
            port=self._settings.port,
            error=error,
            retry_in=round(self.backoff.current, 1),
        )

    def _disconnected(self, manager: Manager, exc: object) -> None:
        was = self._logged_in
        self._logged_in = False
        if not self._closing:
            self._log.warning(
                "ami_disconnected",
                was_logged_in=was,
                error=str(exc) if exc else None,
                retry_in=round(self.backoff.current, 1),
            )

    def _drop_link(self, why: str) -> None:
        """Abort the socket; panoramisk's connection_lost schedules the reconnect."""
        self._logged_in = False
        protocol = self._manager.protocol if self._manager else None
        transport = getattr(protocol, "transport", None)
        self._log.warning("ami_link_dropped", reason=why)
        if transport is not None:
            transport.abort()

    async def _login(self) -> None:
        settings = self._settings
        try:
            challenge = await self._send(challenge_action(), require_login=False)
            nonce = str(challenge.get("Challenge", ""))
            if not nonce:
                raise AmiRefused("Asterisk answered the MD5 Challenge without a challenge")
            response = await self._send(
                login_action(settings.username, nonce, settings.secret.reveal(), LOGIN_EVENTS), require_login=False
            )
        except (AmiNotConnected, AmiTimeout) as exc:
            self._drop_link(f"login got no answer: {exc}")
            return
        except AmiRefused as exc:
            # Never log the secret; the username and Asterisk's words are enough.
            self._log.error("ami_login_refused", username=settings.username, message=str(exc))
            self._drop_link("login refused")
            return
        del response
        self._generation += 1
        generation = self._generation
        self._held = []
        self._logged_in = True
        self.backoff.reset()
        self.logins += 1
        self.connected_since = asyncio.get_running_loop().time()
        try:
            alive = await live_channels(self._send)
            members = await queue_members(self._send)
            started = await pbx_started(self._send)
        except (AmiNotConnected, AmiTimeout, AmiRefused) as exc:
            self._held = None
            self._drop_link(f"rebuilding state failed: {exc}")
            return
        except BaseException:
            self._held = None  # never leave every later event held
            raise
        self._log.info("ami_logged_in", username=settings.username, channels=len(alive), queue_members=len(members))
        # The events held during the snapshot travel with it: the core applies them right
        # after it, before it takes anything for gone.
        held, self._held = tuple(self._held or ()), None
        self._on_login(alive, members, started, generation, held)
        self._spawn(self._keepalive(generation))

    async def _keepalive(self, generation: int) -> None:
        """Ping this login's link; ends with it (a later login has its own)."""
        interval = self._settings.ping_interval
        while self._logged_in and self._generation == generation:
            await asyncio.sleep(interval)
            if not self._logged_in or self._generation != generation:
                return
            try:
                await self._send({"Action": "Ping"}, timeout=interval)
            except (AmiNotConnected, AmiTimeout, AmiRefused) as exc:
                # Silent for two intervals at most: one to ask, one to wait.
                self._drop_link(f"ping failed: {exc}")
                return

    def _event(self, manager: Manager, message: Message) -> None:
        """Events that took panoramisk's path (FullyBooted, an unclaimed OriginateResponse...)."""
        try:
            record = ev.decode(message)
        except Exception:  # a bad frame must never stop the link
            self._log.exception("ami_event_undecodable", ami_event=str(message.get("Event"))[:80])
            return
        if record is not None:
            self._deliver(record)

    async def _send(
        self,
        action: Action,
        *,
        as_list: bool = False,
        timeout: float | None = None,
        require_login: bool = True,
        require_ready: bool = False,
    ) -> Any:
        manager = self._manager
        protocol = manager.protocol if manager else None
        if manager is None or protocol is None or getattr(protocol, "closed", True):
            raise AmiNotConnected("the AMI link is down")
        if require_login and not self._logged_in:
            raise AmiNotConnected("not logged in to AMI")
        if require_ready and not self.ready:
            raise AmiNotConnected("logged in to AMI, but the PBX's state is not taken up yet")
        assert_header_safe(action)
        request = pactions.Action(dict(action), as_list=as_list)
        future = protocol.send(request, as_list=as_list)
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), timeout or self._settings.action_timeout)
        except TimeoutError:
            protocol.responses.pop(request.id, None)
            future.cancel()
            raise AmiTimeout(f"{action.get('Action')} got no answer in time") from None
        first = reply[0] if isinstance(reply, list) else reply
        if str(first.get("Response", "")).lower() == "error":
            raise AmiRefused(str(first.get("Message", "error")))
        return reply

    async def originate(self, action: Action) -> None:
        """Send an Originate; returns once Asterisk queued it (the outcome arrives as events)."""
        await self._send(action, require_ready=True)

    async def pause(self, interface: str, paused: bool, reason: str) -> None:
        """Pause or unpause ``interface`` in all its queues (QueuePause without Queue)."""
        await self._send(pause_action(interface, paused, reason))

    async def hint(self, exten: str, context: str) -> str:
        """The devices the dialplan hint ``exten@context`` names (ExtensionState's ``Hint``)."""
        reply = await self._send(extension_state_action(exten, context))
        return str(reply.get("Hint", "")) if hasattr(reply, "get") else ""

    async def queue_log(self, action: Action) -> None:
        """Write a queue_log line (the QueueLog action)."""
        await self._send(action)

    async def send(self, action: Action, *, as_list: bool = False) -> Any:
        """Any other action, with the configured timeout."""
        return await self._send(action, as_list=as_list)
