"""What customers and agents ask of the engine: queue callback requests, promises, and the
customer reaching the PBX again (which ends what waits for them).

Mixed into :class:`redial.core.engine.CallbackEngine` (the offer, the turn and the
retries are :class:`redial.core.queue_callbacks.QueueCallbacks`'; a promise's plan and
ladder :class:`redial.core.promises.Promises`').
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from redial.ami import events as ev
from redial.config import Settings
from redial.core.attempts import Attempts
from redial.core.commands import Command, RecordPromise, RecordRequest
from redial.core.intake import Intake
from redial.core.jobs import PENDING, CallbackJob, JobKind, Outcome, Trigger, move
from redial.core.open_jobs import OpenJobs
from redial.core.promises import PromiseAnswer, PromiseRequest, Promises
from redial.core.queue_callbacks import CallbackRequest, QueueCallbacks, RequestAnswer
from redial.core.tracker import CallTracker, InboundCall


class CallbackRequests:
    """The engine's side of requests and returning customers (see ``CallbackEngine``)."""

    settings: Settings
    callbacks: QueueCallbacks
    promises: Promises
    attempts: Attempts
    intake: Intake
    tracker: CallTracker
    jobs: OpenJobs
    _log: structlog.typing.FilteringBoundLogger

    # ---- queue callbacks --------------------------------------------------------------
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

    # ---- promises ---------------------------------------------------------------------
    def make_promise(self, request: PromiseRequest, now: float, latest: Mapping[str, Any] | None) -> RecordPromise:
        """The promise to store (raises PromiseRefused, naming what is wrong)."""
        return self.promises.make(request, now, latest)

    def promise_stored(self, job: CallbackJob, now: float) -> list[Command]:
        """A promise is stored: follow it from now (the maker is told after this)."""
        self.jobs.put(job)
        self.jobs.log(job)
        self.promises.count_made(job)
        self._log.info(
            "promise_made",
            redial_id=job.id,
            queue=job.queue,
            owner=job.agent_member or job.agent_interface or "(queue)",
            due_at=job.due_at,
            made_by=job.made_by,
            note=bool(job.note),
        )
        fields = [str(job.id), job.made_by, f"{job.due_at:.0f}", job.agent_member or job.agent_interface or "queue"]
        return self.attempts.queue_log(job, "REDIALMADE", fields)

    def promise_answer(self, job: CallbackJob, now: float) -> PromiseAnswer:
        return self.promises.answer(job, now)

    # ---- the customer reaching us -----------------------------------------------------
    def _reached_an_agent(self, key: str, event: ev.AmiEvent, now: float) -> list[Command]:
        """A caller reached an agent: their pending queue callbacks (of that queue) and promises
        (unless promise.keep_when_called_back) are done: customer_called_back."""
        commands: list[Command] = []
        if not isinstance(event, ev.AgentConnected):
            return []
        keep_promises = self.settings.promise.keep_when_called_back
        for job in self.jobs:
            if job.state not in PENDING or self.intake.customer_key(job.customer_number) != key:
                continue
            if job.kind is JobKind.QUEUE_CALLBACK:
                # Only the callback of that queue: help in another queue is not what they asked for.
                if job.queue != event.queue:
                    continue
            elif job.kind is not JobKind.PROMISED_CALLBACK or keep_promises:
                continue
            uniqueid = event.ref.uniqueid
            detail = f"the customer called in again and reached an agent (call {uniqueid})"
            ended = move(job, Trigger.CUSTOMER_REACHED_US, detail, Outcome.CUSTOMER_CALLED_BACK)
            commands += self.attempts.finish(job, ended, now)
        return commands

    def _customer_on_call(self, job: CallbackJob) -> tuple[Outcome, str] | None:
        """Is ``job``'s customer on a live call with the PBX right now? The outcome that ends it."""
        live = self.tracker.live_call_with(self.intake.customer_key(job.customer_number))
        if live is None:
            return None
        linkedid, role = live
        if role == "caller":
            return Outcome.CUSTOMER_CALLED_BACK, f"the customer is calling in again (call {linkedid})"
        return Outcome.CUSTOMER_ON_CALL, f"the customer is on a call with the PBX (call {linkedid})"

    def _on_inbound(self, call: InboundCall, now: float) -> list[Command]:
        caller = self.intake.customer_key(call.caller_number)
        callee = self.intake.dialled_key(call.dialled) if call.dialled else ""
        if not caller and not callee:
            return []
        commands: list[Command] = []
        for job in self.jobs:
            if job.state not in PENDING or job.kind is not JobKind.DROP_REDIAL:
                continue  # a queue callback or a promise ends only when its customer reaches an agent
            key = self.intake.customer_key(job.customer_number)
            if key and key == caller:
                outcome, detail = Outcome.CUSTOMER_CALLED_BACK, f"the customer called in again (call {call.uniqueid})"
            elif key and key == callee:
                outcome, detail = Outcome.CUSTOMER_ON_CALL, f"someone dialled the customer (call {call.uniqueid})"
            else:
                continue
            ended = move(job, Trigger.CUSTOMER_REACHED_US, f"{detail} before the redial", outcome)
            commands += self.attempts.finish(job, ended, now)
        return commands
