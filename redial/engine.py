"""The core: typed AMI events in, decisions recorded and redials carried out.

It knows nothing of sockets. The live runner (``daemon.py``) and the replay
runner feed it the same events; the clock, the store and the originator are
passed in. One task drives it, so its state needs no lock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import structlog

from redial.ami import events as ev
from redial.ami.actions import Action, OriginateRequest, originate_action
from redial.clock import Clock
from redial.config import Settings
from redial.exceptions import AmiNotConnected, AmiRefused, AmiTimeout, UnsafeValueError
from redial.policy.classify import cause_name, classify
from redial.policy.decide import Verdict, decide
from redial.redials import Outcome, Redial, RedialState, advance, expire, same_customer
from redial.store import Store
from redial.tracker import CallTracker, EndedCall, InboundCall

# When the AMI link is down at the due time, try again this much later.
RETRY_WHEN_DISCONNECTED = 5.0


class Originator(Protocol):
    async def originate(self, action: Action) -> None:
        """Send the Originate and wait for Asterisk's Response.

        Raises AmiNotConnected (not sent), AmiRefused (Asterisk said no) or
        AmiTimeout (sent, no answer: fate unknown).
        """
        ...


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The AMI link is (again) logged in; ``linkedids`` are the calls alive on the PBX."""

    linkedids: frozenset[str]


EngineInput = ev.AmiEvent | LinkUp


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        originator: Originator,
        clock: Clock,
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._originator = originator
        self._clock = clock
        self._log = log if log is not None else structlog.get_logger("redial")
        prefix = settings.originate.channel_id_prefix + "-"
        self._tracker = CallTracker(is_own_channel=lambda linkedid: linkedid.startswith(prefix))
        self._open: dict[int, Redial] = {}
        self._action_seq = 0

    @property
    def tracked_calls(self) -> int:
        return len(self._tracker)

    @property
    def open_redials(self) -> list[Redial]:
        return sorted(self._open.values(), key=lambda r: r.id)

    async def resume(self) -> None:
        """Take up every redial a previous run left open."""
        for redial in await self._store.open_redials():
            self._open[redial.id] = redial
            self._log.info(
                "redial_resumed",
                redial_id=redial.id,
                state=redial.state.value,
                due_at=redial.due_at,
                channel_id=redial.channel_id,
            )

    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has something to do."""
        times = []
        timeout = self._settings.originate.outcome_timeout
        for redial in self._open.values():
            if redial.state is RedialState.WAITING:
                times.append(redial.due_at)
            elif redial.originated_at is not None:
                times.append(redial.originated_at + timeout)
        return min(times, default=None)

    async def handle(self, item: EngineInput) -> None:
        if isinstance(item, LinkUp):
            await self._on_link_up(item)
            return
        now = self._clock.now()
        for output in self._tracker.handle(item, now):
            if isinstance(output, EndedCall):
                await self._on_call_ended(output, now)
            elif isinstance(output, InboundCall):
                await self._on_inbound(output, now)
        for redial in list(self._open.values()):
            moved = advance(redial, item)
            if moved is not None:
                await self._save(moved, now)

    async def tick(self) -> None:
        """Originate what is due; close what waited too long for its outcome."""
        now = self._clock.now()
        timeout = self._settings.originate.outcome_timeout
        for redial in list(self._open.values()):
            if redial.state is RedialState.WAITING and redial.due_at <= now:
                await self._originate(redial, now)
                continue
            expired = expire(redial, now, timeout)
            if expired is not None:
                await self._save(expired, now)

    async def _on_call_ended(self, call: EndedCall, now: float) -> None:
        policy = self._settings.policy
        classification = classify(call, policy)
        decision = decide(call, classification, policy)
        if call.queue is None:
            # Internal and outbound calls are not the daemon's business; keep them out of the store.
            return
        call_id = await self._store.record_call(call, classification, decision, now)
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
        if decision.verdict is not Verdict.REDIAL or decision.due_at is None:
            return
        redial = await self._store.create_redial(
            call_id, decision.due_at, self._settings.originate.channel_id_prefix, now
        )
        self._open[redial.id] = redial
        self._log_redial(redial)

    async def _on_inbound(self, call: InboundCall, now: float) -> None:
        for redial in list(self._open.values()):
            if redial.state is RedialState.WAITING and same_customer(redial.customer_number, call.caller_number):
                detail = f"the customer called in again (call {call.uniqueid}) before the redial"
                await self._save(redial.finished(Outcome.CUSTOMER_CALLED_BACK, detail), now)

    async def _on_link_up(self, link: LinkUp) -> None:
        # Events may have been lost while the link was down: a redial in flight whose
        # channels are gone from the PBX will never report its outcome.
        now = self._clock.now()
        for redial in list(self._open.values()):
            if redial.state in (RedialState.WAITING, RedialState.DONE):
                continue
            if redial.channel_id not in link.linkedids:
                detail = "outcome unknown: its channels were gone when the AMI link came back"
                await self._save(redial.finished(Outcome.FAILED, detail), now)

    async def _originate(self, redial: Redial, now: float) -> None:
        self._action_seq += 1
        originate = self._settings.originate
        request = OriginateRequest(
            redial_id=redial.id,
            channel_id=redial.channel_id,
            agent_interface=redial.agent_interface,
            customer_number=redial.customer_number,
            trunk=originate.trunk or redial.trunk,
            did=redial.dialled,
            original_uniqueid=redial.original_uniqueid,
            queue=redial.queue,
            context=originate.context,
            account=originate.account,
            caller_id_name=originate.caller_id_name,
            agent_ring_timeout=originate.agent_ring_timeout,
            customer_ring_timeout=originate.customer_ring_timeout,
        )
        try:
            action = originate_action(request, f"{redial.channel_id}-o{self._action_seq}")
        except UnsafeValueError as exc:
            await self._save(redial.finished(Outcome.FAILED, f"not originated: {exc}"), now)
            return
        # Write-ahead: once ORIGINATING is stored, no later run will send this Originate again.
        started = redial.moved(RedialState.ORIGINATING, "Originate sent; ringing the agent", originated_at=now)
        await self._save(started, now)
        try:
            await self._originator.originate(action)
        except AmiNotConnected as exc:
            retry = redial.moved(
                RedialState.WAITING, f"not sent ({exc}); retrying", due_at=now + RETRY_WHEN_DISCONNECTED
            )
            await self._save(dataclasses.replace(retry, originated_at=None), now)
        except AmiRefused as exc:
            await self._save(started.finished(Outcome.FAILED, f"Asterisk refused the Originate: {exc}"), now)
        except AmiTimeout as exc:
            # Sent but unanswered: never resend; the events or the outcome deadline decide.
            self._log.warning("originate_unanswered", redial_id=redial.id, channel_id=redial.channel_id, error=str(exc))

    async def _save(self, redial: Redial, now: float) -> None:
        await self._store.save_redial(redial, now)
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
            agent=redial.agent_interface,
            state=redial.state.value,
            outcome=redial.outcome.value if redial.outcome else None,
            due_at=redial.due_at,
            detail=redial.detail,
        )
