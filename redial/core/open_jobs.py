"""The jobs not yet done, by id, and when the engine next has work for them. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import structlog

from redial.core.commands import RecordPromise, SaveJob
from redial.core.jobs import IN_FLIGHT, CallbackJob, JobState


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When the engine next has work, derived from the open jobs."""

    version: int
    timeout: float
    work_at: float  # the first WAITING due or in-flight job expiring (WAITING_AGENT apart)
    wakeup: float | None
    agent_wait: bool  # some job waits for its agent
    waiting_agent: tuple[CallbackJob, ...]  # those jobs


class OpenJobs:
    """Open jobs by id; ``version`` moves on every change, so what is derived from them can be cached."""

    def __init__(self, log: structlog.typing.FilteringBoundLogger) -> None:
        self._jobs: dict[int, CallbackJob] = {}
        self._log = log
        self.version = 0
        self._deadlines: Deadlines | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[CallbackJob]:
        return iter(list(self._jobs.values()))

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: int) -> CallbackJob | None:
        return self._jobs.get(job_id)

    def sorted(self) -> list[CallbackJob]:
        return sorted(self._jobs.values(), key=lambda j: j.id)

    def put(self, job: CallbackJob) -> None:
        """Hold ``job`` as it is stored (resumed, created, reloaded after a lost write)."""
        self.version += 1
        if job.done:
            self._jobs.pop(job.id, None)
        else:
            self._jobs[job.id] = job

    def drop(self, job_id: int) -> None:
        self.version += 1
        self._jobs.pop(job_id, None)

    def save(
        self, job: CallbackJob, ended_attempt: CallbackJob | None = None, then_promise: RecordPromise | None = None
    ) -> SaveJob:
        """The write that stores ``job`` over the version held now; held from here on as written."""
        current = self._jobs.get(job.id)
        command = SaveJob.over(current if current is not None else job, job, ended_attempt, then_promise)
        written = command.job
        if ended_attempt is not None:
            self.log(ended_attempt)
        self.put(written)
        if current is None or current.state is not job.state or current.outcome is not job.outcome:
            self.log(written)
        return command

    def reserved(self, exclude: int) -> set[str]:
        """Members that jobs are ringing or hold reserved."""
        return {
            j.ring_interface or j.agent_interface
            for j in self._jobs.values()
            if j.id != exclude and (j.state in IN_FLIGHT or j.paused_interface)
        }

    def deadlines(self, timeout: float) -> Deadlines:
        cached = self._deadlines
        if cached is not None and cached.version == self.version and cached.timeout == timeout:
            return cached
        times = []
        work_at = math.inf
        for job in self._jobs.values():
            if job.state is JobState.WAITING:
                times.append(job.due_at)
                work_at = min(work_at, job.due_at)
            elif job.state is JobState.WAITING_AGENT:
                if job.agent_deadline is not None:
                    times.append(job.agent_deadline)
            elif job.originated_at is not None and job.state is not JobState.TALKING:
                # A promise's conversation (TALKING) has no deadline: it ends when a leg hangs up.
                times.append(job.originated_at + timeout)
                work_at = min(work_at, job.originated_at + timeout)
        waiting = tuple(j for j in self._jobs.values() if j.state is JobState.WAITING_AGENT)
        self._deadlines = Deadlines(self.version, timeout, work_at, min(times, default=None), bool(waiting), waiting)
        return self._deadlines

    def log(self, job: CallbackJob) -> None:
        self._log.info(
            "redial",
            redial_id=job.id,
            kind=job.kind.value,
            call_id=job.call_id,
            linkedid=job.linkedid,
            channel_id=job.channel_id,
            customer=job.customer_number,
            agent=job.ring_interface or job.agent_interface,
            attempt=job.attempt,
            state=job.state.value,
            outcome=job.outcome.value if job.outcome else None,
            due_at=job.due_at,
            detail=job.detail,
        )
