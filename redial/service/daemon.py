"""The composition root: builds every part of the live daemon and runs it until SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from redial.ami.connection import AmiLink
from redial.ami.events import AmiEvent
from redial.clock import Clock, SystemClock
from redial.config import Settings
from redial.core.commands import Command
from redial.core.engine import LinkUp
from redial.core.jobs import CancelAnswer
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.core.queue_callbacks import CallbackRequest, RequestAnswer
from redial.exceptions import StoreError
from redial.service.agi import ReturningCallerService
from redial.service.alerts import WebhookAlerts
from redial.service.callback_agi import QueueCallbackDesk
from redial.service.control import ControlServer
from redial.service.inbox import CallbackAsk, CancelAsk, Inbox, PromiseAsk, answer
from redial.service.metrics import Metrics
from redial.service.notify import Notifier
from redial.service.promise_agi import PromiseDesk
from redial.service.promise_api import PromiseApiServer
from redial.service.runner import EngineRunner
from redial.service.status import MetricsServer
from redial.store import Store, StoreLock

PURGE_EVERY = 3600.0
# Bits no file the daemon creates gets: the store, its WAL and the lock hold customer
# numbers, also when someone starts `redial run` by hand from a shell with umask 022.
PRIVATE_UMASK = 0o077
# At most this many queued items are handled between two ticks.
BATCH_LIMIT = 512

_STOP = object()
# Wakes the consumer to work out its next wake-up again (an event handled at once moved it).
_RECHECK = object()
# SIGHUP, queued: the configuration is re-read between two events, like every change of state.
_RELOAD = object()


@dataclass(frozen=True, slots=True)
class _Commands:
    """What the engine answered to an event handled at once, for the consumer to carry out."""

    commands: list[Command]


class Daemon:
    """Wires store, engine and AMI link; one task consumes events in arrival order."""

    def __init__(self, settings: Settings, clock: Clock | None = None, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.metrics = Metrics()
        self._ready = False
        self.started_at = time.time()
        self.log = structlog.get_logger("redial")
        self.alerts = WebhookAlerts(settings.promise.webhook, settings.promise.webhook_timeout, self.log)
        self._inbox = Inbox()
        # While the consumer sleeps with nothing queued: its engine, and the wake-up it sleeps until.
        self._asleep: EngineRunner | None = None
        self._asleep_until: float | None = None
        self.store: Store | None = None
        self.engine: EngineRunner | None = None
        self.link: AmiLink | None = None
        self.returning: ReturningCallerService | None = None

    def stop(self) -> None:
        self._inbox.put(_STOP)

    def event_arrived(self, event: AmiEvent) -> None:
        """The AMI link's callback: an event for the engine, in arrival order.

        While the consumer sleeps with nothing queued, the event is handled here and now,
        which spares a loop iteration and a task switch per socket read. Whatever the engine
        answers (commands, a changed wake-up) goes to the consumer, ahead of every later event.
        """
        engine = self._asleep
        if engine is None or self._inbox:
            self._inbox.put(event)
            return
        try:
            commands = engine.handle_at_once(event)
        except Exception:
            # One bad event or bug must not stop the daemon; what is stored stays stored.
            self.log.exception("event_failed", item=type(event).__name__)
            return
        if commands:
            self._inbox.put(_Commands(commands))
        elif engine.next_wakeup() != self._asleep_until:
            self._inbox.put(_RECHECK)

    async def drain(self, engine: EngineRunner) -> None:
        """Consume what is queued so far, then return: how the replay benchmark drives the consumer."""
        self.stop()
        await self._consume(engine)

    def request_reload(self) -> None:
        """SIGHUP's handler: the reload waits its turn in the queue, between two events, never inside one."""
        self._inbox.put(_RELOAD)

    def reload(self) -> None:
        """Re-read the configuration; an invalid file keeps the running one."""
        from redial.config import load_settings
        from redial.exceptions import ConfigError

        source = self.settings.source
        try:
            settings = load_settings(Path(source))
        except ConfigError as exc:
            self.log.error("reload_failed", config=source, error=str(exc), kept="the running configuration")
            return
        kept = {"ami": self.settings.ami, "store": self.settings.store, "control": self.settings.control}
        if settings.originate.channel_id_prefix != self.settings.originate.channel_id_prefix:
            # Redials in flight are known by their ChannelIds: a new prefix would hide them.
            kept["originate"] = dataclasses.replace(
                settings.originate, channel_id_prefix=self.settings.originate.channel_id_prefix
            )
        if (settings.fastagi.enabled, settings.fastagi.host, settings.fastagi.port) != (
            self.settings.fastagi.enabled,
            self.settings.fastagi.host,
            self.settings.fastagi.port,
        ):
            kept["fastagi"] = dataclasses.replace(
                settings.fastagi,
                enabled=self.settings.fastagi.enabled,
                host=self.settings.fastagi.host,
                port=self.settings.fastagi.port,
            )
        if any(getattr(settings, key) != value for key, value in kept.items()):
            self.log.warning(
                "reload_partial",
                detail="ami, store, control, the FastAGI address and channel_id_prefix take effect at the next restart",
            )
            settings = dataclasses.replace(settings, **kept)  # type: ignore[arg-type]
        self.settings = settings
        if self.engine is not None:
            self.engine.reload(settings)
        if self.returning is not None:
            self.returning.settings = settings
        self.alerts.retarget(settings.promise.webhook, settings.promise.webhook_timeout)
        self.log.info("reloaded", config=source)

    async def run(self) -> None:
        settings = self.settings
        lock = StoreLock(settings.store.path)
        lock.acquire()
        try:
            await self._run_with_store(settings)
        finally:
            lock.release()

    async def _run_with_store(self, settings: Settings) -> None:
        self.store = store = await Store.open(settings.store.path, check=True)
        try:
            self.link = link = AmiLink(
                settings.ami,
                on_event=self.event_arrived,
                on_login=lambda *state: self._inbox.put(LinkUp.of(*state)),
                log=self.log,
            )
            self.engine = engine = EngineRunner(
                settings, store, link, self.clock, self.log, self.metrics, alerts=self.alerts.send
            )
            # Gauges read when scraped, not set at every event.
            self.metrics.ami_connected.set_function(lambda: 1 if link.logged_in else 0)
            self.metrics.open_redials.set_function(lambda: engine.open_redial_count)
            self.metrics.tracked_calls.set_function(lambda: engine.tracked_calls)
            await engine.resume()
            # Its token is read before anything listens: a bad one stops the start (exit 78).
            promise_api = None
            if settings.promise.api.enabled:
                promise_api = PromiseApiServer.from_settings(settings.promise.api, self.request_promise, self.log)
            # Before anything else listens: a daemon nobody can ask or cancel through does not start.
            control = ControlServer(
                settings.control.socket,
                settings.control.group,
                self.snapshot,
                self.request_cancel,
                self.request_promise,
                self.log,
            )
            await control.start()
            if promise_api is not None:
                await promise_api.start()
            returning = None
            if settings.fastagi.enabled:
                returning = ReturningCallerService(
                    settings,
                    store,
                    engine.agent_view,
                    self.clock,
                    self.log,
                    on_routed=self._inbox.put,
                    ring_target=engine.ring_target,
                    number_key=engine.customer_key,
                    callbacks=QueueCallbackDesk(
                        settings,
                        store,
                        engine.callback_offer,
                        self.request_callback,
                        self.metrics,
                        self.log,
                        self.clock,
                    ),
                    promises=PromiseDesk(settings, self.request_promise, self.log),
                )
                await returning.start()
            self.returning = returning
            status = None
            if settings.status.enabled:
                status = MetricsServer(settings.status.host, settings.status.port, self.metrics.exposition, self.log)
                await status.start()
            self.log.info(
                "started",
                config=settings.source,
                store=str(settings.store.path),
                ami=f"{settings.ami.host}:{settings.ami.port}",
                open_redials=len(engine.open_redials),
            )
            await link.start()
            try:
                await self._consume(engine)
            finally:
                try:
                    await asyncio.wait_for(engine.shutdown(), timeout=3)
                except Exception:  # a timeout included: stopping must not hang
                    self.log.warning("release_on_stop_failed", detail="agents may stay paused until the next start")
                await link.close()
                if returning is not None:
                    await returning.close()
                if status is not None:
                    await status.close()
                if promise_api is not None:
                    await promise_api.close()
                await control.close()
                await self.alerts.close()
        finally:
            await store.close()
            self.log.info("stopped")

    async def _purge(self) -> None:
        days = self.settings.store.retention_days
        if not days or self.store is None:
            return
        deleted = await self.store.purge(self.clock.now() - days * 86400)
        if deleted:
            self.log.info("store_purged", calls=deleted, older_than_days=days)

    def snapshot(self) -> dict[str, object]:
        link, engine = self.link, self.engine
        return {
            "running": True,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "config": self.settings.source,
            "ami": {
                "logged_in": bool(link and link.logged_in),
                "logins": link.logins if link else 0,
                "host": f"{self.settings.ami.host}:{self.settings.ami.port}",
            },
            **(engine.snapshot() if engine else {}),
        }

    async def request_cancel(self, redial_id: int, by: str) -> CancelAnswer:
        """Cancel through the consumer task, which alone changes the engine's state."""
        reply: asyncio.Future[CancelAnswer] = asyncio.get_running_loop().create_future()
        self._inbox.put(CancelAsk(redial_id, by, reply))
        return await reply

    async def request_promise(self, request: PromiseRequest) -> PromiseAnswer:
        """A promise (the phone, the CLI, the API), through the consumer task like every change of state."""
        reply: asyncio.Future[PromiseAnswer] = asyncio.get_running_loop().create_future()
        self._inbox.put(PromiseAsk(request, reply))
        return await reply

    async def request_callback(self, request: CallbackRequest) -> RequestAnswer:
        """A caller's callback request, through the consumer task like every change of state."""
        reply: asyncio.Future[RequestAnswer] = asyncio.get_running_loop().create_future()
        self._inbox.put(CallbackAsk(request, reply))
        return await reply

    def _link_up(self) -> None:
        if not self._ready:
            self._ready = True
            self.notifier.ready("logged in to AMI")
        else:
            self.notifier.status("logged in to AMI again")

    async def _consume(self, engine: EngineRunner) -> None:
        inbox = self._inbox
        loop = asyncio.get_running_loop()
        watchdog = self.notifier.watchdog_interval
        next_ping = loop.time()
        next_purge = loop.time()
        while True:
            # Housekeeping runs from this loop, so a WATCHDOG ping proves events are consumed.
            if watchdog is not None and loop.time() >= next_ping:
                self.notifier.watchdog()
                next_ping = loop.time() + watchdog
            if loop.time() >= next_purge:
                next_purge = loop.time() + PURGE_EVERY
                try:
                    await self._purge()
                except Exception:
                    self.log.exception("store_purge_failed")
            if not inbox:
                # Asleep until an item arrives or work falls due: no wake-up without either.
                wake = engine.next_wakeup()
                timeout = None if wake is None else max(0.0, wake - self.clock.now())
                if watchdog is not None:
                    ping_in = max(0.0, next_ping - loop.time())
                    timeout = ping_in if timeout is None else min(timeout, ping_in)
                self._asleep, self._asleep_until = engine, wake
                try:
                    await inbox.wait(timeout, (wake, next_ping))
                finally:
                    self._asleep = None
            # Everything queued is handled before one tick: time does not move within a
            # batch, and ticking (and timing) each of the ~170 events of a 64 KiB read
            # cost a sixth of the daemon's CPU. The batch is bounded so housekeeping runs,
            # and ends early when work is due, so a drop's Originate never waits behind
            # the store writes of calls that ended after it.
            oldest: float | None = None
            stopping = False
            handled = 0
            while inbox and handled < BATCH_LIMIT:
                item, arrived = inbox.take()
                if item is _STOP:
                    stopping = True
                    break
                if oldest is None:
                    oldest = arrived
                handled += 1
                # Only an item that gave the engine work can have made more work due.
                if await self._process(engine, item) and engine.work_due():
                    break
            try:
                await engine.tick()
            except StoreError as exc:
                self.log.error("store_error", error=str(exc))
            except Exception:
                self.log.exception("tick_failed")
            if oldest is not None:
                self.metrics.event_lag.observe(time.monotonic() - oldest)
            if stopping:
                self.notifier.stopping()
                return

    async def _process(self, engine: EngineRunner, item: object) -> bool:
        """Hand one queued item to the engine; whether it had work. A failure is logged, never raised."""
        try:
            if isinstance(item, _Commands):
                await engine.carry_out(item.commands)
                return True
            if isinstance(item, (LinkUp, CancelAsk, CallbackAsk, PromiseAsk)) or item is _RELOAD:
                await self._control(engine, item)
                return True
            if item is _RECHECK:
                return False
            return await engine.handle(item)  # type: ignore[arg-type]
        except StoreError as exc:
            self.log.error("store_error", error=str(exc))
        except Exception:
            # One bad event or bug must not stop the daemon; what is stored stays stored.
            self.log.exception("event_failed", item=type(item).__name__)
        return True

    async def _control(self, engine: EngineRunner, item: object) -> None:
        """A login, an operator's cancel or a reload: in turn with the events around it."""
        if item is _RELOAD:
            self.reload()
        elif isinstance(item, CancelAsk):
            await answer(item.reply, lambda: engine.cancel(item.redial_id, item.by))
        elif isinstance(item, CallbackAsk):
            await answer(item.reply, lambda: engine.request_callback(item.request))
        elif isinstance(item, PromiseAsk):
            await answer(item.reply, lambda: engine.make_promise(item.request))
        elif isinstance(item, LinkUp):
            self._link_up()
            self.metrics.ami_logins.inc()
            try:
                await engine.handle(item)
            finally:
                # Only now may Originates go out: the core knows what the PBX had. Also
                # after a failure in it, or no Originate would go out until the next login.
                if self.link is not None:
                    self.link.snapshot_applied(item.generation)


async def run_daemon(settings: Settings, clock: Clock | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly."""
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)  # before the store is opened
    daemon = Daemon(settings, clock)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stop)
    if settings.source.startswith("/") or Path(settings.source).exists():
        loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
    await daemon.run()
