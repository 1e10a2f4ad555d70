"""A queue callback's request and its end when the caller reaches an agent, for the engine.

Mixed into :class:`redial.core.engine.CallbackEngine` (the offer, the turn and the
retries are :class:`redial.core.queue_callbacks.QueueCallbacks`').
"""

from __future__ import annotations

from redial.ami import events as ev
from redial.core.attempts import Attempts
from redial.core.commands import Command, RecordRequest
from redial.core.intake import Intake
from redial.core.jobs import PENDING, CallbackJob, JobKind, Outcome, Trigger, move
from redial.core.open_jobs import OpenJobs
from redial.core.queue_callbacks import CallbackRequest, QueueCallbacks, RequestAnswer


class CallbackRequests:
    """The engine's side of queue callback requests (see ``CallbackEngine``)."""

    callbacks: QueueCallbacks
    attempts: Attempts
    intake: Intake
    jobs: OpenJobs

    def request_callback(self, request: CallbackRequest, now: float) -> RequestAnswer | RecordRequest:
        """A caller's choice after the offer key: the answer, or the request to store first."""
        return self.callbacks.request(request, now)

    def callback_stored(self, command: RecordRequest, job: CallbackJob, merged: bool, now: float) -> list[Command]:
        """The request is stored (or merged into the pending one): follow it from now."""
        if merged:
            held = self.jobs.get(job.id)
            if held is not None and job.joined_at is not None:
                self.jobs.put(held.changed(joined_at=min(job.joined_at, held.joined_at or job.joined_at)))
            return []
        self.jobs.put(job)
        self.jobs.log(job)
        self.callbacks.count_pending(job.queue)
        fields = [str(job.id), "keyed" if command.keyed else "caller", str(command.minutes)]
        return self.attempts.queue_log(job, "REDIALREQUESTED", fields)

    def _reached_an_agent(self, key: str, event: ev.AmiEvent, now: float) -> list[Command]:
        """A caller reached an agent: their pending queue callbacks are done (customer_called_back)."""
        commands: list[Command] = []
        if not isinstance(event, ev.AgentConnected):
            return []
        for job in self.jobs:
            if job.kind is not JobKind.QUEUE_CALLBACK or job.state not in PENDING:
                continue
            # Only the callback of that queue: help in another queue is not what they asked for.
            if job.queue != event.queue or self.intake.customer_key(job.customer_number) != key:
                continue
            uniqueid = event.ref.uniqueid
            detail = f"the customer called in again and reached an agent (call {uniqueid})"
            ended = move(job, Trigger.CUSTOMER_REACHED_US, detail, Outcome.CUSTOMER_CALLED_BACK)
            commands += self.attempts.finish(job, ended, now)
        return commands
