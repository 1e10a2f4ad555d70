"""The thin asyncio shell around the engine: it carries its commands out and reports back.

The live daemon and the replay runner both drive the engine through this, so the two
share one path. Commands run one at a time, in order; a command's result goes straight
back to the engine, whose answer runs before the rest of the batch. A store write that
fails stops the batch (so no Pause or Originate follows a state that was not stored),
and the job is taken again as the store holds it.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from typing import Protocol

import structlog

from redial.ami.actions import Action
from redial.clock import Clock
from redial.config import PolicySettings, Settings
from redial.core.agents import AgentBoard, AgentView
from redial.core.commands import (
    Alert,
    Command,
    ContinueLogin,
    Done,
    Failed,
    ForgetReservation,
    Originate,
    Pause,
    QueueLog,
    RecordCall,
    Recorded,
    ResolveHint,
    Result,
    SaveJob,
    Unpause,
)
from redial.core.engine import CallbackEngine, EngineInput
from redial.core.jobs import CallbackJob, CancelAnswer
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.core.queue_callbacks import CallbackOffer, CallbackRequest, RequestAnswer
from redial.exceptions import AmiError, AmiRefused, PromiseRefused, StoreError, UnsafeValueError
from redial.policy.numbers import DoNotCallList
from redial.service.metrics import Metrics
from redial.store import JobStore

# A restarted daemon remembers the redials per number of this long ago (the daily cap).
_CAP_LOOKBACK = 2 * 86400.0
# Calls that ended normally lead to no action, so their rows are written in groups: one
# commit at most this many seconds after the first of a group, or at this many calls.
# A crash loses at most these rows of normal ends; never a drop, a job or a state change.
UNWRITTEN_FOR = 1.0
UNWRITTEN_MAX = 256
# While the store fails, at most this many are held for the next try (the oldest go first).
_UNWRITTEN_KEPT = 4 * UNWRITTEN_MAX


class Originator(Protocol):
    """The side of the AMI link the engine acts through.

    Each call raises AmiNotConnected (not sent), AmiRefused (Asterisk said no) or
    AmiTimeout (sent, no answer: fate unknown).
    """

    async def originate(self, action: Action) -> None: ...

    async def pause(self, interface: str, paused: bool, reason: str) -> None: ...

    async def queue_log(self, action: Action) -> None: ...

    async def hint(self, exten: str, context: str) -> str: ...


class EngineRunner:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        originator: Originator,
        clock: Clock,
        log: structlog.typing.FilteringBoundLogger | None = None,
        metrics: Metrics | None = None,
        alerts: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self._store = store
        # Sends an Alert's payload (promise.webhook) in the background; None: none configured.
        self._alerts = alerts
        self._originator = originator
        self._clock = clock
        self._log = log if log is not None else structlog.get_logger("redial")
        self._dnc: dict[tuple[str, str], DoNotCallList] = {}
        self.core = CallbackEngine(settings, self._do_not_call, self._log, metrics)
        self.metrics = self.core.metrics
        # Normal ends not yet written, with when each was decided (see UNWRITTEN_FOR).
        self._unwritten: list[tuple[RecordCall, float]] = []

    # ---- what the daemon and the tools read --------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def board(self) -> AgentBoard:
        return self.core.board

    @property
    def tracked_calls(self) -> int:
        return len(self.core.tracker)

    @property
    def open_redial_count(self) -> int:
        return len(self.core.jobs)

    @property
    def open_redials(self) -> list[CallbackJob]:
        return self.core.jobs.sorted()

    @property
    def callbacks_requested(self) -> list[dict[str, object]]:
        return self.core.attempts.attention.callbacks_requested

    def customer_key(self, number: str) -> str:
        return self.core.intake.customer_key(number)

    def ring_target(self, interface: str) -> str:
        """Where to ring member ``interface`` (its device; see ``AgentBoard.device_of``)."""
        return self.core.board.device_of(interface)

    def agent_view(self, interface: str, now: float) -> AgentView:
        return self.core.agent_view(interface, now)

    def snapshot(self) -> dict[str, object]:
        return self.core.snapshot()

    def next_wakeup(self) -> float | None:
        wakeup = self.core.next_wakeup()
        if not self._unwritten:
            return wakeup
        write_at = self._unwritten[0][1] + UNWRITTEN_FOR
        return write_at if wakeup is None else min(wakeup, write_at)

    def work_due(self) -> bool:
        return self.core.work_due(self._clock.now())

    def reload(self, settings: Settings) -> None:
        self.core.reload(settings)

    # ---- inputs -------------------------------------------------------------------------
    async def resume(self) -> None:
        """Take up every job a previous run left open, and agents it left reserved."""
        store = self._store
        since = self._clock.now() - _CAP_LOOKBACK
        self.core.resume(await store.open_jobs(), await store.paused_interfaces(), await store.recent_redials(since))

    async def handle(self, item: EngineInput) -> bool:
        """Hand one input to the engine and carry out its commands; False when there were none
        (most AMI events), so nothing can have fallen due."""
        commands = self.core.handle(item, self._clock.now())
        if not commands:
            return False
        await self._run(commands)
        return True

    def handle_at_once(self, item: EngineInput) -> list[Command]:
        """Hand one input to the engine and tick it, without carrying anything out: the
        consumer's fast path for an event that arrives while it sleeps (most do, and most
        give no command). What comes back must go through :meth:`carry_out`, in order."""
        now = self._clock.now()
        commands = self.core.handle(item, now)
        if commands:
            # Carried out first, then the consumer ticks: what they lead to (a drop's new job,
            # holding its agent) must exist before anything due is planned.
            return commands
        return self.core.tick(now)

    async def carry_out(self, commands: list[Command]) -> None:
        await self._run(commands)

    async def tick(self) -> None:
        now = self._clock.now()
        if self._unwritten and (len(self._unwritten) >= UNWRITTEN_MAX or now >= self._unwritten[0][1] + UNWRITTEN_FOR):
            await self.write_calls()
        commands = self.core.tick(now)
        if commands:
            await self._run(commands)

    async def write_calls(self) -> None:
        """Write the normal ends held back (see UNWRITTEN_FOR) in one commit; kept for the next
        try when the store fails."""
        held, now = self._unwritten, self._clock.now()
        if not held:
            return
        records = [(c.call, c.classification, c.decision, at, c.number_key) for c, at in held]
        try:
            call_ids = await self._store.record_calls(records)
        except StoreError:
            if len(held) > _UNWRITTEN_KEPT:
                lost = len(held) - _UNWRITTEN_KEPT
                del held[:lost]
                self._log.error("calls_not_recorded", calls=lost, detail="the store failed; normal ends only")
            raise
        self._unwritten = []
        for (command, _at), call_id in zip(held, call_ids, strict=True):
            await self._run(self.core.on_result(Done(command, Recorded(call_id)), now))

    def callback_offer(self, uniqueid: str) -> CallbackOffer:
        """May the caller who just pressed the offer key have a callback? (Reads only.)"""
        return self.core.callbacks.offer(uniqueid, self._clock.now())

    async def request_callback(self, request: CallbackRequest) -> RequestAnswer:
        """The caller's choice: answered only once its job is stored (write-ahead of the confirmation)."""
        now = self._clock.now()
        answer = self.core.request_callback(request, now)
        if isinstance(answer, RequestAnswer):
            return answer
        job, merged = await self._store.record_request(answer, now)
        await self._run(self.core.callback_stored(answer, job, merged, now))
        if merged:
            return RequestAnswer("merged", f"merged into callback {job.id}", answer.minutes, job.id)
        return RequestAnswer("accepted", f"callback {job.id} stored", answer.minutes, job.id)

    async def make_promise(self, request: PromiseRequest) -> PromiseAnswer:
        """Make a promise: answered only once it is stored (write-ahead of anyone hearing of it)."""
        now = self._clock.now()
        latest = None
        # A call still followed is the tracker's; any other comes from the store.
        stored_call = bool(request.call) and self.core.tracker.find(request.call) is None
        if stored_call or request.number:
            key = self.core.intake.customer_key(request.number) if request.number else ""
            latest = await self._store.latest_call(key, request.call)
        try:
            if stored_call and latest is None:
                raise PromiseRefused(f"no call {request.call[:80]!r} is known (give its Uniqueid or Linkedid)")
            record = self.core.make_promise(request, now, latest)
            originate = self.settings.originate
            if not record.trunk and not (originate.trunk or originate.customer_route):
                record = dataclasses.replace(record, trunk=await self._store.latest_trunk(record.queue))
                if not record.trunk:
                    raise PromiseRefused(
                        "no trunk is known to reach this customer: set originate.trunk or originate.customer_route"
                    )
        except PromiseRefused as exc:
            self._log.info("promise_refused", source=request.source, by=request.by, detail=str(exc))
            return PromiseAnswer(False, str(exc))
        job = await self._store.record_promise(record, now)
        await self._run(self.core.promise_stored(job, now))
        return self.core.promise_answer(job, now)

    async def cancel(self, redial_id: int, by: str) -> CancelAnswer:
        answer, commands = self.core.cancel(redial_id, by, self._clock.now())
        await self._run(commands)
        return answer

    async def shutdown(self) -> None:
        """Stopping: write what is held back, release every agent the daemon holds; jobs in
        flight carry on on the PBX."""
        try:
            await self.write_calls()
        finally:
            await self._run(self.core.shutdown(self._clock.now()))

    # ---- carrying commands out ----------------------------------------------------------
    async def _run(self, commands: list[Command]) -> None:
        pending = deque(commands)
        while pending:
            command = pending.popleft()
            result = await self._carry_out(command)
            if result is not None:
                pending.extendleft(reversed(self.core.on_result(result, self._clock.now())))

    async def _carry_out(self, command: Command) -> Result | None:
        now = self._clock.now()
        if isinstance(command, SaveJob):
            try:
                promise = await self._store.save_job(command, now)
            except StoreError:
                self.core.replace_job(command.job.id, await self._stored(command.job.id))
                raise
            return None if promise is None else Done(command, promise)
        if isinstance(command, Alert):
            if self._alerts is not None:
                self._alerts(command.payload)
            return None
        if isinstance(command, RecordCall):
            if command.job is None and not command.classification.abnormal:
                self._unwritten.append((command, now))
                if len(self._unwritten) >= UNWRITTEN_MAX:
                    await self.write_calls()
                return None
            return Done(command, await self._record(command, now))
        if isinstance(command, ForgetReservation):
            await self._store.forget_reservation(command.job_id, command.interface, now)
            return None
        if isinstance(command, ContinueLogin):
            return Done(command)
        try:
            return Done(command, await self._send(command))
        except AmiError as exc:
            return Failed(command, exc)
        except UnsafeValueError as exc:
            return Failed(command, AmiRefused(f"not sent: {exc}"))

    async def _send(self, command: Command) -> object:
        originator = self._originator
        if isinstance(command, Originate):
            await originator.originate(command.action)
        elif isinstance(command, (Pause, Unpause)):
            await originator.pause(command.interface, isinstance(command, Pause), command.reason)
        elif isinstance(command, QueueLog):
            await originator.queue_log(command.action)
        elif isinstance(command, ResolveHint):
            return await originator.hint(command.exten, command.context)
        return None

    async def _record(self, command: RecordCall, now: float) -> Recorded:
        store = self._store
        if command.job is None:
            call_id = await store.record_call(
                command.call, command.classification, command.decision, now, command.number_key
            )
            return Recorded(call_id)
        recorded = await store.record_drop(
            command.call, command.classification, command.decision, now, command.number_key, command.job
        )
        return Recorded(None) if recorded is None else Recorded(*recorded)

    async def _stored(self, job_id: int) -> CallbackJob | None:
        try:
            return await self._store.job(job_id)
        except StoreError:
            return None

    def _do_not_call(self, policy: PolicySettings) -> frozenset[str]:
        rules = policy.numbers
        if rules.do_not_call_file is None:
            return frozenset()
        key = (str(rules.do_not_call_file), rules.home_region)
        dnc = self._dnc.get(key)
        if dnc is None:
            dnc = self._dnc[key] = DoNotCallList(rules.do_not_call_file, rules.home_region)
        numbers = dnc.numbers()
        while dnc.problems:
            self._log.error("do_not_call_list_problem", file=str(rules.do_not_call_file), problem=dnc.problems.pop(0))
        return numbers
