"""The store: SQLite behind the one interface the engine's shell needs (:class:`JobStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from redial.core.commands import NewJob, RecordPromise, RecordRequest, SaveJob
from redial.core.jobs import CallbackJob
from redial.core.tracker import EndedCall
from redial.policy.classify import Classification
from redial.policy.decide import Decision
from redial.store.calls import CallRecord
from redial.store.lock import StoreLock
from redial.store.schema import MIGRATIONS, SCHEMA_VERSION
from redial.store.sqlite import Store


class JobStore(Protocol):
    """What the engine's shell reads and writes; :class:`Store` is the real one, the benchmarks count."""

    async def record_call(
        self, call: EndedCall, classification: Classification, decision: Decision, now: float, number_e164: str = ""
    ) -> int | None: ...

    async def record_calls(self, records: Sequence[CallRecord]) -> list[int | None]: ...

    async def record_drop(
        self,
        call: EndedCall,
        classification: Classification,
        decision: Decision,
        now: float,
        number_e164: str,
        job: NewJob,
    ) -> tuple[int, CallbackJob] | None: ...

    async def record_request(self, request: RecordRequest, now: float) -> tuple[CallbackJob, bool]: ...

    async def save_job(self, save: SaveJob, now: float) -> CallbackJob | None: ...

    async def record_promise(self, promise: RecordPromise, now: float) -> CallbackJob: ...

    async def latest_call(self, number_key: str, call: str = "") -> dict[str, Any] | None: ...

    async def latest_trunk(self, queue: str) -> str: ...

    async def forget_reservation(self, job_id: int, interface: str, now: float) -> None: ...

    async def job(self, job_id: int) -> CallbackJob | None: ...

    async def open_jobs(self) -> list[CallbackJob]: ...

    async def paused_interfaces(self) -> list[tuple[int, str, str]]: ...

    async def recent_redials(self, since: float) -> list[tuple[str, float]]: ...


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "JobStore", "Store", "StoreLock"]
