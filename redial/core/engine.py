"""The core: typed AMI events in, decisions recorded and redials carried out.

It knows nothing of sockets. The live runner (``daemon.py``) and the replay
runner feed it the same events; the clock, the store and the originator are
passed in. One task drives it, so its state needs no lock.

Every state a redial enters is written to the store before the daemon acts on
it (reserving the agent, originating), so a restarted daemon knows what was
pending and never repeats an Originate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

import structlog

from redial.ami import events as ev
from redial.ami.actions import Action, OriginateRequest, originate_action, queue_log_action
from redial.clock import Clock
from redial.config import PolicySettings, Settings
from redial.core.adopt import calls_in_progress
from redial.core.agents import AgentBoard, AgentView, Availability, device_in_hint
from redial.core.redials import AGENT_OUTCOMES, Outcome, Redial, RedialState, advance, channel_id_for, expire
from redial.core.tracker import CallerWithheld, CallTracker, EndedBy, EndedCall, InboundCall, RoutedToAgent
from redial.exceptions import AmiError, AmiNotConnected, AmiRefused, AmiTimeout, UnsafeValueError
from redial.policy.attempt import Defer, GiveUp, Ring, WaitForAgent, plan_attempt
from redial.policy.classify import cause_name, classify
from redial.policy.decide import Verdict, decide, skip_by_kind
from redial.policy.guard import OutageGuard
from redial.policy.hours import is_open
from redial.policy.numbers import DoNotCallList, check_number, customer_key
from redial.service.metrics import Metrics
from redial.store import Store

# When the AMI link is down at the due time, try again this much later.
RETRY_WHEN_DISCONNECTED = 5.0
# A redial waiting for its busy agent is planned again when the queue members or the
# open redials change, at its deadline, and at least this often (wrap-up ends, hours).
AGENT_RECHECK = 1.0
_IN_FLIGHT = (RedialState.ORIGINATING, RedialState.AGENT_ANSWERED, RedialState.CUSTOMER_ANSWERED)
_PENDING = (RedialState.WAITING, RedialState.WAITING_AGENT)
# Customer keys kept (number -> key); the cache starts over when full.
_KEYS_CACHED = 8192
# How many of the latest callback requests `redial status` lists.
_CALLBACKS_SHOWN = 50


class Originator(Protocol):
    """The side of the AMI link the engine acts through.

    Each call raises AmiNotConnected (not sent), AmiRefused (Asterisk said no) or
    AmiTimeout (sent, no answer: fate unknown).
    """

    async def originate(self, action: Action) -> None: ...

    async def pause(self, interface: str, paused: bool, reason: str) -> None: ...

    async def queue_log(self, action: Action) -> None: ...

    async def hint(self, exten: str, context: str) -> str: ...


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The AMI link is (again) logged in: the calls alive on the PBX and the queue members."""

    linkedids: frozenset[str]
    members: tuple[ev.MemberState, ...] | None = None
    # The channels alive on the PBX: calls already up are taken up from them.
    channels: tuple[ev.LiveChannel, ...] = ()
    # When Asterisk started (CoreStatus); a change between logins means it restarted.
    pbx_started: str = ""
    # Which login of the link this is (the link sends nothing until it is applied).
    generation: int = 0
    # Events that arrived while the snapshot was taken: applied right after it, in order,
    # before anything is taken for gone (a Hangup among them reports its call).
    events: tuple[ev.AmiEvent, ...] = ()

    @classmethod
    def of(
        cls,
        channels: tuple[ev.LiveChannel, ...],
        members: tuple[ev.MemberState, ...],
        pbx_started: str = "",
        generation: int = 0,
        events: tuple[ev.AmiEvent, ...] = (),
    ) -> LinkUp:
        linkedids = frozenset(c.ref.linkedid for c in channels)
        return cls(linkedids, members, channels, pbx_started, generation, events)


EngineInput = ev.AmiEvent | LinkUp | RoutedToAgent | CallerWithheld


class _OpenRedials(dict[int, Redial]):
    """The open redials by id; ``version`` moves on every change, so what is derived from them can be cached."""

    version = 0

    def __setitem__(self, key: int, value: Redial) -> None:
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: int) -> None:
        self.version += 1
        super().__delitem__(key)

    def pop(self, key: int, *default: Any) -> Any:
        self.version += 1
        return super().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.version += 1
        super().update(*args, **kwargs)

    def clear(self) -> None:
        self.version += 1
        super().clear()

    def setdefault(self, key: int, default: Any = None) -> Any:
        self.version += 1
        return super().setdefault(key, default)

    def popitem(self) -> tuple[int, Redial]:
        self.version += 1
        return super().popitem()


@dataclass(frozen=True, slots=True)
class _Deadlines:
    """When tick() next has work, derived from the open redials (``-inf``: at every tick)."""

    version: int
    timeout: float
    work_at: float  # the first WAITING due or in-flight redial expiring (WAITING_AGENT apart)
    wakeup: float | None
    agent_wait: bool  # some redial waits for its agent
    agent_deadline: float  # the first of their deadlines
    waiting_agent: tuple[Redial, ...]  # those redials


class _FreeMembers(Sequence[str]):
    """The free members of a queue, looked up only if the plan needs a fallback."""

    def __init__(self, lookup: Callable[[], list[str]]) -> None:
        self._lookup = lookup
        self._members: list[str] | None = None

    def _list(self) -> list[str]:
        if self._members is None:
            self._members = self._lookup()
        return self._members

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._list())

    @property
    def looked_up(self) -> bool:
        return self._members is not None


def _goes_to_next_member(redial: Redial) -> bool:
    """Did this attempt end because the rung member's phone did not take it?"""
    return redial.done and redial.outcome in AGENT_OUTCOMES and bool(redial.ring_interface)


def _value(outcome: Outcome | None) -> str:
    return outcome.value if outcome is not None else "no outcome"


def local_midnight(now: float, timezone: str) -> float:
    zone = zoneinfo.ZoneInfo(timezone)
    local = dt.datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        originator: Originator,
        clock: Clock,
        log: structlog.typing.FilteringBoundLogger | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self.metrics = metrics or Metrics()
        self._originator = originator
        self._clock = clock
        self._log = log if log is not None else structlog.get_logger("redial")
        self._open = _OpenRedials()
        self._deadlines: _Deadlines | None = None
        # What each redial waiting for its agent was last planned against: the versions of its
        # agent's entries, of the open redials and (if the plan looked at other members) of the
        # whole board, and the time.
        self._agent_plans: dict[int, tuple[int, int, int | None, float]] = {}
        # Redial id -> when the wrap-up its agent is in ends (no AMI event says so).
        self._wrapup_ends: dict[int, float] = {}
        self._board = AgentBoard()
        self._dnc: dict[tuple[str, str], DoNotCallList] = {}
        self._action_seq = 0
        self._unpause: dict[int, str] = {}
        # Redial id -> its ChannelId, for reservations found in the store at start: one
        # whose redial call is still up stays held, not released under the agent.
        self._unpause_channel: dict[int, str] = {}
        # A connected redial keeps its agent reserved until the agent's channel hangs up:
        # ChannelId -> (redial id, interface).
        self._held: dict[str, tuple[int, str]] = {}
        self.settings = settings
        self._board.set_queue_wrapup(settings.queue_wrapup_times(), default=settings.policy.agent.wrapup_time)
        self._guard = OutageGuard(settings.outage_guard)
        prefix = settings.originate.channel_id_prefix + "-"
        self._tracker = CallTracker(
            is_own_channel=lambda linkedid: linkedid.startswith(prefix),
            number_key=self.customer_key,
            dialled_key=self._dialled_key,
        )
        self._keys: dict[tuple[str, bool], str] = {}
        # Asterisk's start time at the last login: a new one means it restarted meanwhile.
        self._pbx_started = ""
        # Redials that ended with nobody able to take them, newest last: shown by `status`.
        self.callbacks_requested: list[dict[str, object]] = []

    def customer_key(self, number: str) -> str:
        """The customer a number names, in the one form every "same customer" check uses."""
        return self._cached_key(number, False)

    def _dialled_key(self, number: str) -> str:
        """The customer behind a number someone dialled (an outside-line prefix taken off)."""
        return self._cached_key(number, True)

    def _cached_key(self, number: str, dialled: bool) -> str:
        # Parsing costs ~20 us; the same numbers come back (each pending redial's, at every call).
        key = self._keys.get((number, dialled))
        if key is None:
            numbers = self.settings.policy.numbers
            key = customer_key(number, numbers, numbers.dial_prefixes if dialled else ())
            if len(self._keys) >= _KEYS_CACHED:
                self._keys.clear()
            self._keys[(number, dialled)] = key
        return key

    def ring_target(self, interface: str) -> str:
        """Where to ring member ``interface`` (its device; see ``AgentBoard.device_of``)."""
        return self._board.device_of(interface)

    def reload(self, settings: Settings) -> None:
        """Take a new configuration (SIGHUP); calls and redials in progress carry on."""
        self.settings = settings
        self._keys.clear()  # the number rules may have changed
        self._guard.settings = settings.outage_guard
        # A queue's own wrapuptime never shows on AMI: it comes from the policy.
        self._board.set_queue_wrapup(settings.queue_wrapup_times(), default=settings.policy.agent.wrapup_time)

    @property
    def tracked_calls(self) -> int:
        return len(self._tracker)

    @property
    def board(self) -> AgentBoard:
        return self._board

    @property
    def open_redial_count(self) -> int:
        return len(self._open)

    @property
    def open_redials(self) -> list[Redial]:
        return sorted(self._open.values(), key=lambda r: r.id)

    async def resume(self) -> None:
        """Take up every redial a previous run left open, and agents it left paused."""
        for redial in await self._store.open_redials():
            self._open[redial.id] = redial
            self._log.info(
                "redial_resumed",
                redial_id=redial.id,
                state=redial.state.value,
                due_at=redial.due_at,
                channel_id=redial.channel_id,
            )
        for redial_id, interface, channel_id in await self._store.paused_interfaces():
            self._unpause[redial_id] = interface
            self._unpause_channel[redial_id] = channel_id

    def _open_deadlines(self) -> _Deadlines:
        timeout = self.settings.originate.outcome_timeout
        cached = self._deadlines
        if cached is not None and cached.version == self._open.version and cached.timeout == timeout:
            return cached
        times = []
        work_at = agent_deadline = math.inf
        agent_wait = False
        for redial in self._open.values():
            if redial.state is RedialState.WAITING:
                times.append(redial.due_at)
                work_at = min(work_at, redial.due_at)
            elif redial.state is RedialState.WAITING_AGENT:
                agent_wait = True
                if redial.agent_deadline is not None:
                    times.append(redial.agent_deadline)
                    agent_deadline = min(agent_deadline, redial.agent_deadline)
            elif redial.originated_at is not None:
                times.append(redial.originated_at + timeout)
                if redial.state in _IN_FLIGHT:
                    work_at = min(work_at, redial.originated_at + timeout)
        waiting = tuple(r for r in self._open.values() if r.state is RedialState.WAITING_AGENT)
        for gone in [rid for rid in self._agent_plans if rid not in self._open]:
            del self._agent_plans[gone]
        self._deadlines = _Deadlines(
            self._open.version, timeout, work_at, min(times, default=None), agent_wait, agent_deadline, waiting
        )
        return self._deadlines

    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has something to do."""
        wakeup = self._open_deadlines().wakeup
        if self._wrapup_ends:
            # An agent's wrap-up ends without any AMI event: wake up for it.
            self._wrapup_ends = {rid: at for rid, at in self._wrapup_ends.items() if rid in self._open}
            ends = min(self._wrapup_ends.values(), default=None)
            if ends is not None:
                wakeup = ends if wakeup is None else min(wakeup, ends)
        guard = self._guard.next_change()
        if guard is None:
            return wakeup
        return guard if wakeup is None else min(wakeup, guard)

    def work_due(self) -> bool:
        """Is something due now (say, the Originate of a drop with a zero window)?"""
        wakeup = self.next_wakeup()
        return wakeup is not None and wakeup <= self._clock.now()

    async def handle(self, item: EngineInput) -> None:
        if isinstance(item, LinkUp):
            await self._on_link_up(item)
            return
        now = self._clock.now()
        if isinstance(item, RoutedToAgent):
            self._tracker.routed_to_agent(item, now)
            return
        if isinstance(item, CallerWithheld):
            self._tracker.caller_withheld(item)
            return
        await self._on_event(item, now)

    async def _on_event(self, item: ev.AmiEvent, now: float) -> None:
        self._board.handle(item)
        if isinstance(item, ev.ChannelHungUp) and item.ref.uniqueid in self._held:
            redial_id, interface = self._held.pop(item.ref.uniqueid)
            await self._release(interface, redial_id, now)
        for output in self._tracker.handle(item, now):
            if isinstance(output, EndedCall):
                await self._on_call_ended(output, now)
            elif isinstance(output, InboundCall):
                await self._on_inbound(output, now)
        if not self._open or not self._may_concern_a_redial(item):
            return
        for redial in list(self._open.values()):
            moved = advance(redial, item)
            if moved is None:
                continue
            if moved.done:
                await self._finish(moved, now)
            else:
                await self._save(moved, now)

    def _may_concern_a_redial(self, event: ev.AmiEvent) -> bool:
        """Could ``event`` move a redial (see ``redials.concerns``)? Every ChannelId starts with the prefix."""
        prefix = self._channel_prefix
        if isinstance(event, (ev.BridgeEntered, ev.ChannelHungUp)):
            return event.ref.linkedid.startswith(prefix)
        if isinstance(event, ev.DialEnded):
            return event.dest.linkedid.startswith(prefix) or event.dest.uniqueid.startswith(prefix)
        if isinstance(event, ev.OriginateResult):
            return event.uniqueid.startswith(prefix)
        return False

    @property
    def _channel_prefix(self) -> str:
        return self.settings.originate.channel_id_prefix + "-"

    async def tick(self) -> None:
        """Carry out what is due; close what waited too long for its outcome."""
        now = self._clock.now()
        for change in self._guard.refresh(now):
            self._log.warning("outage_guard_ended", trunk=change.trunk, drops=change.drops, detail=change.detail)
        if not self._open:
            return
        deadlines = self._open_deadlines()
        replan = deadlines.agent_wait and any(self._replan_due(r, now) for r in deadlines.waiting_agent)
        if now < deadlines.work_at and not replan:
            return
        timeout = self.settings.originate.outcome_timeout
        for redial in sorted(self._open.values(), key=lambda r: (r.due_at, r.id)):
            if redial.id not in self._open:
                continue
            if redial.state is RedialState.WAITING_AGENT:
                if self._replan_due(redial, now):
                    await self._attempt(redial, now)
            elif redial.state is RedialState.WAITING and redial.due_at <= now:
                await self._attempt(redial, now)
            else:
                expired = expire(redial, now, timeout)
                if expired is not None:
                    await self._finish(expired, now)

    def _replan_due(self, redial: Redial, now: float) -> bool:
        """Could the plan of a redial waiting for its agent come out differently than last time?"""
        last = self._agent_plans.get(redial.id)
        if last is None:
            return True
        agent_version, open_version, board_version, planned_at = last
        return (
            now >= planned_at + AGENT_RECHECK
            or (redial.agent_deadline is not None and now >= redial.agent_deadline)
            or open_version != self._open.version
            or agent_version != self._board.version_of(redial.agent_interface)
            or (board_version is not None and board_version != self._board.version)
        )

    async def cancel(self, redial_id: int, by: str) -> str:
        """An operator's cancel: only a redial that has not started ringing; the answer in words."""
        redial = self._open.get(redial_id)
        if redial is None:
            return f"redial {redial_id} is not pending"
        if redial.state not in _PENDING:
            return f"redial {redial_id} is already ringing ({redial.state.value}); hang it up on the PBX"
        now = self._clock.now()
        finished = redial.finished(Outcome.CANCELLED, f"cancelled by {by}")
        await self._finish(finished, now)
        return f"redial {redial_id} cancelled"

    def snapshot(self) -> dict[str, object]:
        """What ``redial status`` shows."""
        return {
            "tracked_calls": self.tracked_calls,
            "open_redials": [
                {
                    "redial_id": r.id,
                    "customer": r.customer_number,
                    "agent": r.ring_interface or r.agent_interface,
                    "queue": r.queue,
                    "state": r.state.value,
                    "attempt": r.attempt,
                    "due_at": r.due_at,
                    "detail": r.detail,
                }
                for r in self.open_redials
            ],
            "callbacks_requested": list(self.callbacks_requested),
        }

    async def shutdown(self) -> None:
        """Stopping: release every agent the daemon holds, rather than leave them out of their queues.

        Redials in flight carry on on the PBX; a restarted daemon looks them up.
        """
        now = self._clock.now()
        held = [(rid, iface) for rid, iface in self._held.values()]
        held += [(r.id, r.paused_interface) for r in self._open.values() if r.paused_interface]
        for redial_id, interface in held:
            await self._release(interface, redial_id, now)
        self._held.clear()

    # ---- call ends ----------------------------------------------------------------------
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

    async def _on_call_ended(self, call: EndedCall, now: float) -> None:
        if call.queue is None:
            # Internal and outbound calls are not the daemon's business; keep them out of the store.
            return
        policy = self.settings.policy_for(call.queue)
        classification = classify(call, policy)
        skipped = skip_by_kind(classification)
        # Stored for history and returning callers in the one "same customer" form.
        e164 = self.customer_key(call.customer_number)
        if skipped is not None:
            # Most calls: the number is stored, not judged.
            decision = skipped
        else:
            # A restricted presentation is a withheld number, whatever AMI's CallerIDNum shows.
            shown = "anonymous" if call.number_withheld else call.customer_number
            number = check_number(shown, policy.numbers, self._do_not_call(policy))
            hours = is_open(now, policy.hours)
            today = await self._store.redials_since(e164, local_midnight(now, policy.hours.timezone))
            decision = decide(call, classification, policy, number=number, hours=hours, redials_today=today)
        self.metrics.decisions.labels(decision.verdict.value, decision.reason.value).inc()
        if classification.abnormal:
            self.metrics.drops.labels(str(call.cause), call.trunk).inc()
            tripped = self._guard.record_drop(call.trunk, now)
            if tripped is not None:
                self._log.warning(
                    "outage_guard_tripped", trunk=tripped.trunk, drops=tripped.drops, detail=tripped.detail
                )
        redial = None
        if decision.verdict is Verdict.REDIAL and decision.due_at is not None:
            # The agent's own leg failed (their phone lost media or transport): ringing that
            # phone again would only wait out a dead device, so another member takes it.
            agent_failed = (
                call.ended_by is EndedBy.AGENT
                and call.agent_interface
                and not call.pbx_restart
                and not (call.soft_cause or 0) & 4  # Asterisk shutting down hangs up either leg first
            )
            passed_over = (call.agent_interface,) if agent_failed and call.agent_interface else ()
            recorded = await self._store.record_drop(
                call,
                classification,
                decision,
                now,
                e164,
                decision.due_at,
                self.settings.originate.channel_id_prefix,
                passed_over,
            )
            call_id, redial = recorded if recorded is not None else (None, None)
        else:
            call_id = await self._store.record_call(call, classification, decision, now, e164)
        fields = {
            "linkedid": call.linkedid,
            "uniqueid": call.customer_uniqueid,
            "customer": call.customer_number,
            "queue": call.queue,
            "agent": call.agent_interface,
            "agent_name": call.agent_member,
            "trunk": call.trunk,
            "ended_by": call.ended_by.value,
            "cause": call.cause,
            "cause_text": cause_name(call.cause),
            "classification": classification.kind.value,
            "decision": decision.verdict.value,
            "reason": decision.reason.value,
            "detail": decision.detail,
        }
        if call_id is None:
            self._log.warning("call_already_recorded", **fields)
            return
        self._log.info("decision", call_id=call_id, **fields)
        if redial is None:
            return
        self._open[redial.id] = redial
        self._log_redial(redial)
        # The customer may have called again before Asterisk noticed the drop (rtp_timeout).
        await self._finish_if_on_call(redial, now)

    async def _finish_if_on_call(self, redial: Redial, now: float) -> bool:
        """End ``redial`` if its customer is on a live call with the PBX right now."""
        live = self._tracker.live_call_with(self.customer_key(redial.customer_number))
        if live is None:
            return False
        linkedid, role = live
        if role == "caller":
            outcome, detail = Outcome.CUSTOMER_CALLED_BACK, f"the customer is calling in again (call {linkedid})"
        else:
            outcome, detail = Outcome.CUSTOMER_ON_CALL, f"the customer is on a call with the PBX (call {linkedid})"
        finished = redial.finished(outcome, detail)
        await self._finish(finished, now)
        return True

    async def _on_inbound(self, call: InboundCall, now: float) -> None:
        caller = self.customer_key(call.caller_number)
        callee = self._dialled_key(call.dialled) if call.dialled else ""
        if not caller and not callee:
            return
        for redial in list(self._open.values()):
            if redial.state not in _PENDING:
                continue
            key = self.customer_key(redial.customer_number)
            if key and key == caller:
                detail = f"the customer called in again (call {call.uniqueid}) before the redial"
                finished = redial.finished(Outcome.CUSTOMER_CALLED_BACK, detail)
            elif key and key == callee:
                detail = f"someone dialled the customer (call {call.uniqueid}) before the redial"
                finished = redial.finished(Outcome.CUSTOMER_ON_CALL, detail)
            else:
                continue
            await self._finish(finished, now)

    async def _on_link_up(self, link: LinkUp) -> None:
        now = self._clock.now()
        if link.members is not None:
            self._board.reset(link.members)
            await self._resolve_hints()
        # Calls that were up before this login (the daemon (re)started mid-call): follow
        # them from here, so their drop is seen too.
        taken_up = 0
        for found in calls_in_progress(link.channels, self._board.member_at, self._tracker.is_own):
            taken_up += self._tracker.take_up(found, now)
        if taken_up:
            self._log.info("calls_taken_up", calls=taken_up)
        for event in link.events:
            await self._on_event(event, now)
        # Calls that began during the snapshot are alive too, though it does not show them.
        alive = link.linkedids | {e.ref.linkedid for e in link.events if isinstance(e, ev.NewChannel)}
        restarted = bool(self._pbx_started and link.pbx_started and link.pbx_started != self._pbx_started)
        if link.pbx_started:
            self._pbx_started = link.pbx_started
        tracked = len(self._tracker)
        lost = self._tracker.end_gone(alive, now, pbx_restarted=restarted)
        forgotten = tracked - len(self._tracker) - len(lost)
        if restarted:
            self._log.warning("pbx_restarted", started=link.pbx_started, calls_cut=len(lost))
        if forgotten:
            self._log.warning("calls_lost_while_disconnected", calls=forgotten)
        for call in lost:
            await self._on_call_ended(call, now)
        # Events may have been lost while the link was down: a redial in flight whose
        # channels are gone from the PBX will never report its outcome.
        for redial in list(self._open.values()):
            if redial.state in _IN_FLIGHT and redial.channel_id not in alive:
                detail = "outcome unknown: its channels were gone when the AMI link came back"
                finished = redial.finished(Outcome.FAILED, detail)
                await self._finish(finished, now)
        # Agents a killed daemon left paused for redials that are over.
        for redial_id, interface in list(self._unpause.items()):
            channel_id = self._unpause_channel.get(redial_id, "")
            if channel_id and channel_id in alive:
                # A connected redial still up: the agent is still talking to the customer.
                self._held[channel_id] = (redial_id, interface)
            elif not await self._release(interface, redial_id, now):
                continue  # released at the next login, which checks the call again
            del self._unpause[redial_id]
            self._unpause_channel.pop(redial_id, None)
        # Connected redials whose call ended while the link was down.
        for channel_id, (redial_id, interface) in list(self._held.items()):
            if channel_id not in alive and await self._release(interface, redial_id, now):
                del self._held[channel_id]

    async def _resolve_hints(self, only: str | None = None) -> None:
        """Find the phone behind every ``hint:exten@context`` state interface (current FreePBX members)."""
        devices = {}
        for state in sorted(self._board.hints()) if only is None else [only]:
            exten, _, context = state.removeprefix("hint:").partition("@")
            try:
                device = device_in_hint(await self._originator.hint(exten, context or "default"))
            except (AmiError, UnsafeValueError) as exc:
                self._log.warning("hint_unresolved", state_interface=state, error=str(exc))
                continue
            if device is None:
                self._log.warning("hint_unresolved", state_interface=state, error="the hint names no phone")
                continue
            devices[state] = device
        self._board.set_hint_devices(devices)

    def agent_view(self, interface: str, now: float) -> AgentView:
        """The agent's availability, counting the daemon's own reservations as busy."""
        view = self._board.view(interface, now, self.settings.policy.agent.pause_reason)
        if interface in self._reserved(exclude=-1):
            return AgentView(interface, Availability.BUSY, f"{interface} is reserved for a redial", view.queues)
        return view

    # ---- attempts -----------------------------------------------------------------------
    def _reserved(self, exclude: int) -> set[str]:
        return {
            r.ring_interface or r.agent_interface
            for r in self._open.values()
            if r.id != exclude and (r.state in _IN_FLIGHT or r.paused_interface)
        }

    async def _attempt(self, redial: Redial, now: float) -> None:
        if await self._finish_if_on_call(redial, now):
            return  # checked again at every turn: the customer may have called meanwhile
        policy = self.settings.policy_for(redial.queue)
        reason = policy.agent.pause_reason
        reserved = self._reserved(redial.id)
        agent = self._board.view(redial.agent_interface, now, reason)
        if agent.interface in reserved:
            agent = AgentView(agent.interface, Availability.BUSY, f"{agent.interface} is ringing for another redial")
        stamp = (self._board.version_of(redial.agent_interface), self._open.version, self._board.version)
        passed_over = frozenset(redial.passed_over)
        free = _FreeMembers(
            lambda: self._board.free_members(
                redial.queue, now, reason, exclude=reserved | passed_over | {redial.agent_interface}
            )
        )
        plan = plan_attempt(
            policy=policy,
            agent=agent,
            free_members=free,
            hours=is_open(now, policy.hours),
            guard_slot=self._guard.slot(redial.trunk, now),
            agent_deadline=redial.agent_deadline,
            now=now,
            passed_over=passed_over,
            others_left=not passed_over
            or any(m not in passed_over and m != redial.agent_interface for m in self._board.members_of(redial.queue)),
        )
        self._agent_plans[redial.id] = (stamp[0], stamp[1], stamp[2] if free.looked_up else None, now)
        if isinstance(plan, GiveUp):
            finished = redial.finished(plan.outcome, plan.detail)
            await self._finish(finished, now)
        elif isinstance(plan, Defer):
            if redial.state is not RedialState.WAITING or redial.due_at != plan.until:
                await self._save(redial.moved(RedialState.WAITING, plan.detail, due_at=plan.until), now)
        elif isinstance(plan, WaitForAgent):
            if agent.wrapup_until is not None:
                self._wrapup_ends[redial.id] = float(agent.wrapup_until)
            else:
                self._wrapup_ends.pop(redial.id, None)
            if redial.state is not RedialState.WAITING_AGENT or redial.agent_deadline != plan.until:
                await self._save(redial.moved(RedialState.WAITING_AGENT, plan.detail, agent_deadline=plan.until), now)
        else:
            self._guard.take(redial.trunk, now)
            await self._ring(redial, plan, policy, now)

    async def _ring(self, redial: Redial, plan: Ring, policy: PolicySettings, now: float) -> None:
        self._action_seq += 1
        originate = self.settings.originate
        experience = policy.experience
        channel_id = channel_id_for(originate.channel_id_prefix, redial.id, redial.rings + 1, redial.linkedid)
        shown = redial.dialled if experience.customer_caller_id == "dialled" else experience.customer_caller_id
        unresolved = self._board.unresolved_hint(plan.interface)
        if unresolved is not None:
            # A member added since the last login, whose hint is not resolved yet.
            await self._resolve_hints(only=unresolved)
        target = self._board.device_of(plan.interface)
        request = OriginateRequest(
            redial_id=redial.id,
            channel_id=channel_id,
            agent_interface=target,
            customer_number=redial.dial_number or redial.customer_number,
            route_context=originate.customer_route or "",
            trunk=originate.trunk or redial.trunk,
            did=redial.dialled,
            original_uniqueid=redial.original_uniqueid,
            queue=redial.queue,
            context=originate.context,
            account=originate.account,
            caller_id_name=experience.agent_caller_id_name,
            agent_ring_timeout=originate.agent_ring_timeout,
            customer_ring_timeout=originate.customer_ring_timeout,
            agent_prompt=experience.agent_prompt,
            customer_greeting=experience.customer_greeting,
            show_number=shown,
            agent_name=self._board.name_of(plan.interface) or (redial.agent_member if not plan.fallback else ""),
        )
        try:
            action = originate_action(request, f"{channel_id}-o{self._action_seq}")
        except UnsafeValueError as exc:
            await self._finish(redial.finished(Outcome.FAILED, f"not originated: {exc}"), now)
            return
        if redial.paused_interface and redial.paused_interface != plan.interface:
            # A member who failed earlier stayed paused (the link was down): theirs first.
            await self._release(redial.paused_interface, redial.id, now)
            redial = dataclasses.replace(redial, paused_interface=None)
        # Reserve the agent so no queue call slips in while their phone rings for the redial.
        if self._board.queues_of(plan.interface):
            redial = dataclasses.replace(redial, paused_interface=plan.interface)
            await self._save(redial.moved(redial.state, f"reserving {plan.interface}"), now)
            try:
                await self._originator.pause(plan.interface, True, policy.agent.pause_reason)
            except AmiNotConnected as exc:
                retry = redial.moved(
                    RedialState.WAITING, f"not sent ({exc}); retrying", due_at=now + RETRY_WHEN_DISCONNECTED
                )
                await self._save(dataclasses.replace(retry, paused_interface=None), now)
                return
            except AmiError as exc:
                self._log.warning("agent_pause_failed", redial_id=redial.id, interface=plan.interface, error=str(exc))
        # Write-ahead: once ORIGINATING is stored, no later run will send this Originate again.
        started = dataclasses.replace(
            redial.moved(RedialState.ORIGINATING, f"Originate sent; ringing {plan.interface}", originated_at=now),
            channel_id=channel_id,
            ring_interface=plan.interface,
            bridged_legs=0,
            rings=redial.rings + 1,
        )
        if plan.fallback:
            self._log.info("redial_fallback", redial_id=redial.id, interface=plan.interface, detail=plan.detail)
        await self._save(started, now)
        try:
            await self._originator.originate(action)
        except AmiNotConnected as exc:
            retry = dataclasses.replace(
                started.moved(RedialState.WAITING, f"not sent ({exc}); retrying", due_at=now + RETRY_WHEN_DISCONNECTED),
                originated_at=None,
            )
            await self._save(retry, now)
            await self._release_for(retry, now)
        except AmiRefused as exc:
            finished = started.finished(Outcome.FAILED, f"Asterisk refused the Originate: {exc}")
            await self._finish(finished, now)
        except AmiTimeout as exc:
            # Sent but unanswered: never resend; the events or the outcome deadline decide.
            self._log.warning("originate_unanswered", redial_id=redial.id, channel_id=channel_id, error=str(exc))
        else:
            self.metrics.drop_to_redial.observe(max(0.0, now - redial.dropped_at))
            kind = "fallback" if plan.fallback else "agent"
            fields = [str(redial.id), str(redial.attempt), redial.customer_number, channel_id, kind]
            await self._queue_log(started, "REDIALSTART", fields)

    async def _queue_log(self, redial: Redial, verb: str, fields: list[str]) -> None:
        """Audit line in queue_log, linked to the dropped call by its Uniqueid."""
        if not self.settings.originate.queue_log:
            return
        interface = redial.ring_interface or redial.agent_interface
        action = queue_log_action(redial.queue, interface, redial.original_uniqueid, verb, fields)
        try:
            await self._originator.queue_log(action)
        except AmiError as exc:
            self._log.warning("queue_log_failed", redial_id=redial.id, verb=verb, error=str(exc))

    def _next_after(self, ended: Redial, now: float) -> Redial | None:
        """What an ended attempt leads to: another member, a retry of the customer, or nothing."""
        if _goes_to_next_member(ended):
            # The agent's phone did not take it, so the customer was never rung: another
            # member takes over now (or, when none can, a callback is recorded). This is
            # no attempt on the customer.
            return dataclasses.replace(
                ended.moved(
                    RedialState.WAITING,
                    f"{ended.ring_interface} did not take it ({_value(ended.outcome)}); trying another member",
                    due_at=now,
                    originated_at=None,
                ),
                outcome=None,
                passed_over=(*ended.passed_over, ended.ring_interface),
                agent_deadline=None,
                ring_interface="",
                bridged_legs=0,
            )
        retry = self.settings.policy_for(ended.queue).retry
        if ended.outcome is None or ended.outcome.value not in retry.retry_on or ended.attempt >= retry.attempts:
            return None
        return dataclasses.replace(
            ended.moved(
                RedialState.WAITING,
                f"attempt {ended.attempt + 1} of {retry.attempts} in {retry.spacing:g} s after {ended.outcome.value}",
                due_at=now + retry.spacing,
                originated_at=None,
            ),
            outcome=None,
            attempt=ended.attempt + 1,
            agent_deadline=None,
            ring_interface="",
            bridged_legs=0,
        )

    async def _finish(self, ended: Redial, now: float) -> None:
        """Store an attempt's end and what follows it in one commit, then act on both.

        Two commits would let a crash between them keep the end alone: a redial that
        should have gone to another member, or been retried, would stay finished.
        """
        following = self._next_after(ended, now)
        if following is None:
            await self._save(ended, now)
        else:
            await self._save(following, now, ended_attempt=ended)
        await self._after_attempt(ended, following, now)

    async def _after_attempt(self, ended: Redial, following: Redial | None, now: float) -> None:
        """An attempt is over (and stored): count and log it, then hold or release the agent."""
        if ended.outcome is not None:
            self.metrics.outcomes.labels(ended.outcome.value).inc()
            if ended.outcome is Outcome.CONNECTED:
                self.metrics.drop_to_connected.observe(max(0.0, now - ended.dropped_at))
        if ended.originated_at is not None:
            outcome = ended.outcome.value if ended.outcome else "unknown"
            took = f"{max(0.0, now - ended.originated_at):.0f}"
            await self._queue_log(ended, "REDIALEND", [str(ended.id), str(ended.attempt), outcome, took])
        if ended.outcome is Outcome.CONNECTED and ended.paused_interface:
            # Agent and customer are talking: keep the agent out of the queue until it ends.
            self._held[ended.channel_id] = (ended.id, ended.paused_interface)
            return
        if following is not None:
            await self._release_for(following, now)
            return
        await self._release_for(ended, now)
        if ended.outcome is Outcome.CALLBACK_REQUESTED:
            self._note_callback_requested(ended, now)

    def _note_callback_requested(self, redial: Redial, now: float) -> None:
        """Nobody could take the redial: never a quiet end, a warning and a line in `status`."""
        self._log.warning(
            "callback_requested",
            redial_id=redial.id,
            call_id=redial.call_id,
            customer=redial.customer_number,
            queue=redial.queue,
            agent=redial.agent_interface,
            detail=redial.detail,
        )
        entry: dict[str, object] = {
            "redial_id": redial.id,
            "customer": redial.customer_number,
            "queue": redial.queue,
            "agent": redial.agent_interface,
            "at": now,
            "detail": redial.detail,
        }
        self.callbacks_requested = [*self.callbacks_requested[-(_CALLBACKS_SHOWN - 1) :], entry]

    async def _release_for(self, redial: Redial, now: float) -> Redial:
        if not redial.paused_interface:
            return redial
        if not await self._release(redial.paused_interface, redial.id, now):
            # Still paused (the link is down): the stored reservation must outlive this
            # attempt, or a crash before the next login would leave the agent paused.
            return redial
        released = dataclasses.replace(redial, paused_interface=None)
        if not released.done:
            self._open[released.id] = released
        return released

    def _own_pause_reasons(self) -> frozenset[str]:
        policies = [self.settings.policy, *self.settings.queue_policies.values()]
        return frozenset(p.agent.pause_reason for p in policies)

    async def _release(self, interface: str, redial_id: int, now: float) -> bool:
        """Unpause ``interface``; the store forgets the reservation only once it is released."""
        policy = self.settings.policy
        # Paused with any of the daemon's own reasons (queues may override it) is ours to undo.
        views = [self._board.view(interface, self._clock.now(), reason) for reason in self._own_pause_reasons()]
        view = views[0]
        if all(v.availability is Availability.PAUSED for v in views):
            # The agent paused themselves meanwhile (lunch, end of shift): theirs to undo.
            self._log.info("agent_left_paused", redial_id=redial_id, interface=interface, detail=view.detail)
            await self._store.clear_paused(redial_id, now)
            return True
        try:
            await self._originator.pause(interface, False, policy.agent.pause_reason)
        except AmiNotConnected:
            # Released at the next login.
            self._unpause[redial_id] = interface
            return False
        except AmiError as exc:
            self._log.warning("agent_unpause_failed", redial_id=redial_id, interface=interface, error=str(exc))
        self._log.info("agent_released", redial_id=redial_id, interface=interface)
        await self._store.clear_paused(redial_id, now)
        return True

    async def _save(self, redial: Redial, now: float, ended_attempt: Redial | None = None) -> None:
        """Store ``redial`` (and, in the same commit, the end of the attempt it follows)."""
        await self._store.save_redial(redial, now, ended_attempt)
        if ended_attempt is not None:
            self._log_redial(ended_attempt)
        current = self._open.get(redial.id)
        if redial.done:
            self._open.pop(redial.id, None)
        else:
            self._open[redial.id] = redial
        if current is None or current.state is not redial.state or current.outcome is not redial.outcome:
            self._log_redial(redial)

    def _log_redial(self, redial: Redial) -> None:
        self._log.info(
            "redial",
            redial_id=redial.id,
            call_id=redial.call_id,
            linkedid=redial.linkedid,
            channel_id=redial.channel_id,
            customer=redial.customer_number,
            agent=redial.ring_interface or redial.agent_interface,
            attempt=redial.attempt,
            state=redial.state.value,
            outcome=redial.outcome.value if redial.outcome else None,
            due_at=redial.due_at,
            detail=redial.detail,
        )
