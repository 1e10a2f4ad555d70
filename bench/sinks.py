"""In-memory stand-ins for the store and the AMI write side: they count and keep nothing.

The engine runs unchanged against them; SQLite and the socket stay out of the
measured loop. They keep only the one call being turned into a redial, so a
million calls leave nothing behind here either.
"""

from __future__ import annotations

from dataclasses import dataclass

from redial.ami.actions import Action
from redial.core.redials import Redial, RedialState, channel_id_for
from redial.core.tracker import EndedCall
from redial.policy.classify import Classification
from redial.policy.decide import Decision, Verdict
from redial.store import Store


@dataclass
class Counts:
    calls_recorded: int = 0
    abnormal: int = 0
    redial_decisions: int = 0
    redials_created: int = 0
    redial_saves: int = 0
    originates: int = 0
    pauses: int = 0
    queue_logs: int = 0


class CountingStore(Store):
    """A :class:`~redial.store.Store` that counts what the engine writes and keeps no history."""

    def __init__(self, counts: Counts | None = None) -> None:  # no database behind it
        self.path = ":counting:"
        self.counts = counts if counts is not None else Counts()
        self._last: tuple[int, EndedCall] | None = None

    async def close(self) -> None:
        return None

    async def record_call(
        self, call: EndedCall, classification: Classification, decision: Decision, now: float, number_e164: str = ""
    ) -> int | None:
        counts = self.counts
        counts.calls_recorded += 1
        counts.abnormal += classification.abnormal
        counts.redial_decisions += decision.verdict is Verdict.REDIAL
        self._last = (counts.calls_recorded, call)
        return counts.calls_recorded

    async def record_drop(
        self,
        call: EndedCall,
        classification: Classification,
        decision: Decision,
        now: float,
        number_e164: str,
        due_at: float,
        channel_prefix: str,
        passed_over: tuple[str, ...] = (),
    ) -> tuple[int, Redial] | None:
        call_id = await self.record_call(call, classification, decision, now, number_e164)
        assert call_id is not None
        return call_id, await self.create_redial(
            call_id, due_at, channel_prefix, now, decision.dial_number, passed_over
        )

    async def create_redial(
        self,
        call_id: int,
        due_at: float,
        channel_prefix: str,
        now: float,
        dial_number: str = "",
        passed_over: tuple[str, ...] = (),
    ) -> Redial:
        assert self._last is not None and self._last[0] == call_id, "create_redial follows its record_call"
        call = self._last[1]
        self.counts.redials_created += 1
        redial_id = self.counts.redials_created
        return Redial(
            id=redial_id,
            call_id=call_id,
            linkedid=call.linkedid,
            original_uniqueid=call.customer_uniqueid,
            customer_number=call.customer_number,
            dialled=call.dialled,
            queue=call.queue or "",
            agent_interface=call.agent_interface or "",
            agent_member=call.agent_member or "",
            trunk=call.trunk,
            state=RedialState.WAITING,
            due_at=due_at,
            channel_id=channel_id_for(channel_prefix, redial_id, 1, call.linkedid),
            detail="waiting for the callback window",
            dial_number=dial_number or call.customer_number,
            passed_over=passed_over,
            ring_interface=call.agent_interface or "",
            dropped_at=call.ended_at,
        )

    async def save_redial(self, redial: Redial, now: float, ended_attempt: Redial | None = None) -> None:
        self.counts.redial_saves += 1

    async def redials_since(self, number_e164: str, since: float) -> int:
        return 0

    async def paused_interfaces(self) -> list[tuple[int, str, str]]:
        return []

    async def clear_paused(self, redial_id: int, now: float) -> None:
        return None

    async def open_redials(self) -> list[Redial]:
        return []


class CountingOriginator:
    """The engine's AMI write side: every action is accepted, counted and dropped."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    async def originate(self, action: Action) -> None:
        self.counts.originates += 1

    async def pause(self, interface: str, paused: bool, reason: str) -> None:
        self.counts.pauses += 1

    async def hint(self, exten: str, context: str) -> str:
        return ""  # the benchmark's members are plain PJSIP devices

    async def queue_log(self, action: Action) -> None:
        self.counts.queue_logs += 1
