"""In-memory stand-ins for the store and the AMI write side: they count and keep nothing.

The engine runs unchanged against them; SQLite and the socket stay out of the
measured loop. They keep only the one call being turned into a redial, so a
million calls leave nothing behind here either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redial.ami.actions import Action
from redial.core.commands import NewJob, RecordPromise, RecordRequest, SaveJob
from redial.core.jobs import CallbackJob
from redial.core.tracker import EndedCall
from redial.policy.classify import Classification
from redial.policy.decide import Decision, Verdict
from redial.store.calls import CallRecord


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


class CountingStore:
    """A :class:`~redial.store.JobStore` that counts what the engine writes and keeps no history."""

    def __init__(self, counts: Counts | None = None) -> None:  # no database behind it
        self.path = ":counting:"
        self.counts = counts if counts is not None else Counts()

    async def close(self) -> None:
        return None

    async def record_call(
        self, call: EndedCall, classification: Classification, decision: Decision, now: float, number_e164: str = ""
    ) -> int | None:
        counts = self.counts
        counts.calls_recorded += 1
        counts.abnormal += classification.abnormal
        counts.redial_decisions += decision.verdict is Verdict.REDIAL
        return counts.calls_recorded

    async def record_calls(self, records: Sequence[CallRecord]) -> list[int | None]:
        return [await self.record_call(*record) for record in records]

    async def record_drop(
        self,
        call: EndedCall,
        classification: Classification,
        decision: Decision,
        now: float,
        number_e164: str,
        job: NewJob,
    ) -> tuple[int, CallbackJob] | None:
        call_id = await self.record_call(call, classification, decision, now, number_e164)
        assert call_id is not None
        self.counts.redials_created += 1
        job_id = self.counts.redials_created
        return call_id, job.created(job_id, call_id, call)

    async def record_request(self, request: RecordRequest, now: float) -> tuple[CallbackJob, bool]:
        raise NotImplementedError("the benchmarks replay no queue callback requests")

    async def save_job(self, save: SaveJob, now: float) -> CallbackJob | None:
        self.counts.redial_saves += 1
        return None

    async def record_promise(self, promise: RecordPromise, now: float) -> CallbackJob:
        raise NotImplementedError("the benchmarks replay no promises")

    async def latest_call(self, number_key: str, call: str = "") -> dict[str, Any] | None:
        return None

    async def latest_trunk(self, queue: str) -> str:
        return ""

    async def forget_reservation(self, job_id: int, interface: str, now: float) -> None:
        return None

    async def job(self, job_id: int) -> CallbackJob | None:
        return None

    async def open_jobs(self) -> list[CallbackJob]:
        return []

    async def paused_interfaces(self) -> list[tuple[int, str, str]]:
        return []

    async def recent_redials(self, since: float) -> list[tuple[str, float]]:
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
