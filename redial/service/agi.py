"""The returning-caller FastAGI service: thin I/O around :func:`decide_returning`.

The inbound dialplan runs ``AGI(agi://127.0.0.1:4573/returning)`` before Queue();
when the caller's last call dropped recently and that agent is free, the service
sets ``REDIAL_AGENT`` (the agent's device) and ``REDIAL_QUEUE`` (a queue it is a
member of), and the shipped dialplan rings that agent first once it has checked the
device against the queue's members. A pending redial for the caller is cancelled by
the engine as soon as their new call appears (``customer_called_back``). The same port
serves the queue-callback script (callback_agi.py) and the agent's in-call promise
(promise_agi.py), by ``agi_network_script``.

Whoever holds the port receives every inbound call's AGI session, so the port is not
optional: when it cannot be had the daemon stops (:class:`PortUnavailable`), unless
systemd passed the socket (``redial-agi.socket``). Every read has a timeout and at most
``max_connections`` sessions run at once.

panoramisk's ``Request`` sends the AGI commands; the headers are read here,
bounded in size and time, because panoramisk's own handler loops forever on a
client that closes before sending them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from panoramisk.fast_agi import Request

from redial.ami.actions import DEVICE, TOKEN
from redial.clock import Clock
from redial.config import Settings
from redial.core.agents import AgentView
from redial.core.calls import presentation_withheld
from redial.core.tracker import CallerWithheld, RoutedToAgent
from redial.policy.numbers import customer_key
from redial.policy.returning import RecentDrop, ReturningDecision, decide_returning
from redial.service.callback_agi import SCRIPT as CALLBACK_SCRIPT
from redial.service.callback_agi import QueueCallbackDesk
from redial.service.loopback import LoopbackService
from redial.service.promise_agi import SCRIPT as PROMISE_SCRIPT
from redial.service.promise_agi import PromiseDesk
from redial.store import Store

MAX_HEADER_BYTES = 64 * 1024
# Seconds to wait for the headers, and for Asterisk's answer to each command.
READ_TIMEOUT = 5.0
# Sessions served at once; Asterisk's calls take milliseconds each.
MAX_SESSIONS = 16
ROUTE = "returning"


async def read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    """The ``agi_*`` lines up to the blank line; ValueError when too long or cut short."""
    headers: dict[str, str] = {}
    size = 0
    while True:
        try:
            line = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            # One line beyond the stream's limit (64 KiB).
            raise ValueError("AGI headers too long") from None
        if not line:
            raise ValueError("connection closed before the AGI headers ended")
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise ValueError("AGI headers too long")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers
        key, sep, value = text.partition(": ")
        if sep:
            headers[key] = value


class ReturningCallerService(LoopbackService):
    name = "fastagi"
    required = True

    def __init__(
        self,
        settings: Settings,
        store: Store,
        agent_view: Callable[[str, float], AgentView],
        clock: Clock,
        log: structlog.typing.FilteringBoundLogger | None = None,
        on_routed: Callable[[RoutedToAgent | CallerWithheld], None] = lambda _routed: None,
        ring_target: Callable[[str], str] = lambda interface: interface,
        number_key: Callable[[str], str] | None = None,
        callbacks: QueueCallbackDesk | None = None,
        promises: PromiseDesk | None = None,
        read_timeout: float = READ_TIMEOUT,
        max_connections: int = MAX_SESSIONS,
    ) -> None:
        super().__init__(settings.fastagi.host, settings.fastagi.port, log)
        self.read_timeout, self.max_connections = read_timeout, max_connections
        # The queue-callback script (queue_callback in redial.yaml); None serves only "returning".
        self._callbacks = callbacks
        # The agent's in-call promise (*7); None refuses it (the dialplan then says so).
        self._promises = promises
        self.settings = settings
        self._store = store
        self._agent_view = agent_view
        self._clock = clock
        # Tells the call tracker, so a second drop of the direct call is seen too.
        self._on_routed = on_routed
        # A member's own device: a Local member's dialplan (FreePBX's from-queue) refuses
        # a call that Queue() did not place.
        self._ring_target = ring_target
        # The engine's cached customer_key: parsing a number costs more than the rest of a lookup.
        self._number_key = number_key or (lambda number: customer_key(number, self.settings.policy.numbers))

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        """A reload's settings, for this service and the scripts it serves (their sounds, their rules)."""
        self._settings = settings
        for desk in (self._callbacks, self._promises):
            if desk is not None:
                desk.settings = settings

    async def lookup(self, caller: str) -> ReturningDecision:
        """What to tell the dialplan for a call from ``caller``."""
        now = self._clock.now()
        agi = self.settings.fastagi
        e164 = self._number_key(caller)
        found = await self._store.last_drop(e164, caller, now - agi.returning_window)
        drop = RecentDrop(*found) if found else None
        agent = self._agent_view(drop.agent_interface, now) if drop else None
        return decide_returning(drop, agent, now, agi.returning_window)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers = await asyncio.wait_for(read_headers(reader), self.read_timeout)
            script = headers.get("agi_network_script", "")
            desk = {CALLBACK_SCRIPT: self._callbacks, PROMISE_SCRIPT: self._promises}.get(script)
            if desk is not None:
                request = Request(app=None, headers=headers, reader=reader, writer=writer)

                async def set_variable(name: str, value: str) -> None:
                    await asyncio.wait_for(request.send_command(f'SET VARIABLE {name} "{value}"'), self.read_timeout)

                await desk.serve(headers, set_variable)
                return
            if script != ROUTE:
                self._log.warning("fastagi_unknown_script", script=script[:80])
                return
            caller = headers.get("agi_callerid", "")
            uniqueid = headers.get("agi_uniqueid", "")
            if uniqueid and presentation_withheld(headers.get("agi_callingpres", "")):
                # AMI shows the number even so: the tracker must treat it as withheld.
                self._on_routed(CallerWithheld(uniqueid))
            decision = await self.lookup(caller)
            self._log.info(
                "returning_caller",
                customer=caller[:40],
                uniqueid=uniqueid[:80],
                agent=decision.agent_interface or None,
                reason=decision.reason,
                detail=decision.detail,
            )
            device = self._ring_target(decision.agent_interface) if decision.agent_interface else ""
            # Only a plain device (no @, & or options) of a member of the queue: the dialplan checks both again.
            if device and DEVICE.fullmatch(device) and TOKEN.fullmatch(decision.queue):
                request = Request(app=None, headers=headers, reader=reader, writer=writer)
                timeout = self.settings.fastagi.ring_timeout
                for name, value in (("REDIAL_AGENT", device), ("REDIAL_QUEUE", decision.queue)):
                    await asyncio.wait_for(request.send_command(f'SET VARIABLE {name} "{value}"'), self.read_timeout)
                await asyncio.wait_for(
                    request.send_command(f'SET VARIABLE REDIAL_AGENT_TIMEOUT "{timeout}"'), self.read_timeout
                )
                if uniqueid:
                    self._on_routed(
                        RoutedToAgent(uniqueid, decision.queue, decision.agent_interface, decision.agent_member)
                    )
        except (TimeoutError, ValueError, ConnectionError) as exc:
            self._log.warning("fastagi_request_failed", error=str(exc) or type(exc).__name__)
        except Exception:
            self._log.exception("fastagi_request_failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
