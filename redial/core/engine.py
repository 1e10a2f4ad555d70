"""The core, sans I/O: events and the time in, commands out.

It knows nothing of sockets, files or the database. The live runner and the replay
runner (``redial/service/runner.py``) feed it the same inputs: AMI events, the link's
logins (:class:`LinkUp`), timer ticks, operator commands, and the results of its own
commands. It answers with commands in the order they must happen; every job state it
enters is in a ``SaveJob`` placed before the Pause or Originate it leads to, so a
restarted daemon knows what was pending and never repeats an Originate. Its unit
tests drive it with event lists alone, without asyncio.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from redial.ami import events as ev
from redial.config import PolicySettings, Settings
from redial.core.agents import AgentBoard, AgentView, Availability, device_in_hint
from redial.core.attempts import Attempts
from redial.core.callback_requests import CallbackRequests
from redial.core.commands import (
    Command,
    ContinueLogin,
    Done,
    Failed,
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
from redial.core.inputs import EngineInput, LinkUp
from redial.core.intake import Intake
from redial.core.jobs import PENDING, CallbackJob, CancelAnswer, JobKind, JobState, Outcome, Trigger, move
from redial.core.login import LoginHandling
from redial.core.open_jobs import OpenJobs
from redial.core.progress import advance, expire
from redial.core.promises import Promises
from redial.core.queue_callbacks import QueueCallbacks
from redial.core.queue_line import QueueLine
from redial.core.tracker import CallerWithheld, CallTracker, EndedCall, InboundCall, RoutedToAgent
from redial.exceptions import AmiNotConnected, AmiTimeout
from redial.policy.guard import OutageGuard
from redial.service.metrics import Metrics

# When the AMI link is down at the due time, try again this much later.
RETRY_WHEN_DISCONNECTED = 5.0


class CallbackEngine(LoginHandling, CallbackRequests):
    """Tracker, agent board, policy and the open jobs: one task drives it, so it needs no lock."""

    def __init__(
        self,
        settings: Settings,
        do_not_call: Callable[[PolicySettings], frozenset[str]] = lambda policy: frozenset(),
        log: structlog.typing.FilteringBoundLogger | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self._log = log if log is not None else structlog.get_logger("redial")
        self.settings = settings
        self.board = AgentBoard()
        self.board.set_queue_wrapup(settings.queue_wrapup_times(), default=settings.policy.agent.wrapup_time)
        self.jobs = OpenJobs(self._log)
        self._guard = OutageGuard(settings.outage_guard)
        prefix = settings.originate.channel_id_prefix + "-"
        self.intake = Intake(settings, self._guard, do_not_call, self._log, self.metrics)
        self.tracker = CallTracker(
            is_own_channel=lambda linkedid: linkedid.startswith(prefix),
            number_key=self.intake.customer_key,
            dialled_key=self.intake.dialled_key,
        )
        self.line = QueueLine()
        self.callbacks = QueueCallbacks(
            settings,
            self.line,
            self.board,
            self.jobs,
            self.intake.customer_key,
            self.intake.check_callback_number,
            lambda key: bool(key) and self.tracker.live_call_with(key) is not None,
            self.metrics,
            self.tracker.agents_on_calls,
            lambda: self.tracker.calls_ended,
        )
        self.promises = Promises(
            settings,
            self.board,
            self.jobs,
            self.tracker.find,
            self.intake.customer_key,
            self.intake.check_callback_number,
            lambda key: bool(key) and self.tracker.live_call_with(key) is not None,
            self.metrics,
        )
        self.attempts = Attempts(
            settings,
            self.board,
            self.jobs,
            self._guard,
            self.metrics,
            self._log,
            self._customer_on_call,
            self.callbacks,
            self.promises,
        )
        # Asterisk's start time at the last login: a new one means it restarted meanwhile.
        self._pbx_started = ""

    # ---- state held -------------------------------------------------------------------
    def reload(self, settings: Settings) -> None:
        """Take a new configuration (SIGHUP); calls and jobs in progress carry on."""
        self.settings = self.attempts.settings = self.callbacks.settings = self.promises.settings = settings
        self.intake.reload(settings)
        self._guard.settings = settings.outage_guard
        # A queue's own wrapuptime never shows on AMI: it comes from the policy.
        self.board.set_queue_wrapup(settings.queue_wrapup_times(), default=settings.policy.agent.wrapup_time)

    def resume(
        self,
        open_jobs: list[CallbackJob],
        reservations: list[tuple[int, str, str]],
        recent_redials: list[tuple[str, float]],
    ) -> None:
        """Take up what a previous run stored: open jobs, agents left reserved, today's redials per number."""
        for job in open_jobs:
            self.jobs.put(job)
            self._log.info(
                "redial_resumed", redial_id=job.id, state=job.state.value, due_at=job.due_at, channel_id=job.channel_id
            )
        self.attempts.reservations.resume(reservations)
        self.intake.resume(recent_redials)
        for queue in {j.queue for j in open_jobs if j.kind is JobKind.QUEUE_CALLBACK}:
            self.callbacks.count_pending(queue)
        for queue in {j.queue for j in open_jobs if j.kind is JobKind.PROMISED_CALLBACK}:
            self.promises.count_pending(queue)

    def replace_job(self, job_id: int, stored: CallbackJob | None) -> None:
        """A write of this job lost a race (or failed): hold what the store holds instead."""
        if stored is None:
            # Unreadable: never rung from a copy the store may not hold; a restart takes it up.
            self.jobs.drop(job_id)
            self._log.error(
                "redial_set_aside",
                redial_id=job_id,
                detail="its row could not be read back; taken up again at the next start",
            )
            return
        self.jobs.put(stored)

    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has something to do."""
        wakeup = self.jobs.deadlines(self.settings.originate.outcome_timeout).wakeup
        self.attempts.forget_plans()
        ends = self.attempts.wrapup_ends
        if ends:
            # An agent's wrap-up ends without any AMI event: wake up for it.
            first = min(ends.values())
            wakeup = first if wakeup is None else min(wakeup, first)
        guard = self._guard.next_change()
        if guard is None:
            return wakeup
        return guard if wakeup is None else min(wakeup, guard)

    def work_due(self, now: float) -> bool:
        """Is something due now (say, the Originate of a drop with a zero window)?"""
        wakeup = self.next_wakeup()
        return wakeup is not None and wakeup <= now

    def agent_view(self, interface: str, now: float) -> AgentView:
        """The agent's availability, counting the daemon's own reservations as busy."""
        view = self.board.view(interface, now, self.settings.policy.agent.pause_reason)
        if interface in self.jobs.reserved(exclude=-1):
            return AgentView(interface, Availability.BUSY, f"{interface} is reserved for a redial", view.queues)
        return view

    def snapshot(self) -> dict[str, object]:
        """What ``redial status`` shows."""
        return {
            "tracked_calls": len(self.tracker),
            "open_redials": [
                {
                    "redial_id": j.id,
                    "kind": j.kind.value,
                    "customer": j.customer_number,
                    "agent": j.ring_interface or j.agent_interface,
                    "ring_interface": j.ring_interface,
                    "queue": j.queue,
                    "state": j.state.value,
                    "attempt": j.attempt,
                    "due_at": j.due_at,
                    "detail": j.detail,
                }
                for j in self.jobs.sorted()
            ],
            "callbacks_requested": list(self.attempts.attention.callbacks_requested),
            "queue_callbacks_unreached": list(self.attempts.attention.unreached_jobs),
            "promises_unreached": list(self.attempts.attention.unreached_promises),
        }

    # ---- inputs -----------------------------------------------------------------------
    def handle(self, item: EngineInput, now: float) -> list[Command]:
        if isinstance(item, LinkUp):
            return self._on_link_up(item, now)
        if isinstance(item, RoutedToAgent):
            self.tracker.routed_to_agent(item, now)
            return []
        if isinstance(item, CallerWithheld):
            self.tracker.caller_withheld(item)
            return []
        return self._on_event(item, now)

    def _on_event(self, item: ev.AmiEvent, now: float) -> list[Command]:
        commands: list[Command] = []
        self.board.handle(item)
        answered = self.callbacks.observe(item, now)
        if answered is not None:
            commands += self._reached_an_agent(answered, item, now)
        reservations = self.attempts.reservations
        if isinstance(item, ev.ChannelHungUp) and reservations.held_by(item.ref.uniqueid):
            commands += self.attempts.forgotten(reservations.channel_ended(item.ref.uniqueid, now))
        for output in self.tracker.handle(item, now):
            if isinstance(output, EndedCall):
                commands += self.intake.call_ended(output, now)
            elif isinstance(output, InboundCall):
                commands += self._on_inbound(output, now)
        if not len(self.jobs) or not self._may_concern_a_job(item):
            return commands
        for job in self.jobs:
            moved = advance(job, item, now, self.settings.policy_for(job.queue).promise.min_talk)
            if moved is None:
                continue
            if moved.done:
                commands += self.attempts.finish(job, moved, now)
            else:
                commands.append(self.jobs.save(moved))
        return commands

    def _may_concern_a_job(self, event: ev.AmiEvent) -> bool:
        """Could ``event`` move a job (see ``progress.concerns``)? Every ChannelId starts with the prefix."""
        prefix = self.settings.originate.channel_id_prefix + "-"
        if isinstance(event, (ev.BridgeEntered, ev.ChannelHungUp)):
            return event.ref.linkedid.startswith(prefix)
        if isinstance(event, ev.DialEnded):
            return event.dest.linkedid.startswith(prefix) or event.dest.uniqueid.startswith(prefix)
        if isinstance(event, ev.OriginateResult):
            return event.uniqueid.startswith(prefix)
        return False

    def tick(self, now: float) -> list[Command]:
        """Carry out what is due; close what waited too long for its outcome."""
        for change in self._guard.refresh(now):
            self._log.warning("outage_guard_ended", trunk=change.trunk, drops=change.drops, detail=change.detail)
        if not len(self.jobs):
            return []
        timeout = self.settings.originate.outcome_timeout
        deadlines = self.jobs.deadlines(timeout)
        attempts = self.attempts
        replan = deadlines.agent_wait and any(attempts.replan_due(j, now) for j in deadlines.waiting_agent)
        if now < deadlines.work_at and not replan:
            return []
        commands: list[Command] = []
        for job in sorted(self.jobs, key=_turn):
            job = self.jobs.get(job.id)  # type: ignore[assignment]  # an earlier one's end may have moved it
            if job is None:
                continue
            if job.state is JobState.WAITING_AGENT:
                if attempts.replan_due(job, now):
                    commands += attempts.attempt(job, now)
            elif job.state is JobState.WAITING and job.due_at <= now:
                commands += attempts.attempt(job, now)
            else:
                expired = expire(job, now, timeout)
                if expired is not None:
                    commands += attempts.finish(job, expired, now)
        return commands

    def cancel(self, job_id: int, by: str, now: float) -> tuple[CancelAnswer, list[Command]]:
        """An operator's cancel: only a job that has not started ringing."""
        job = self.jobs.get(job_id)
        if job is None:
            return CancelAnswer(False, f"redial {job_id} is not pending"), []
        if job.state not in PENDING:
            text = f"redial {job_id} is already ringing ({job.state.value}); hang it up on the PBX"
            return CancelAnswer(False, text), []
        ended = move(job, Trigger.CANCEL, f"cancelled by {by}", Outcome.CANCELLED)
        return CancelAnswer(True, f"redial {job_id} cancelled"), self.attempts.finish(job, ended, now)

    def shutdown(self, now: float) -> list[Command]:
        """Stopping: release every agent the daemon holds. Jobs in flight carry on; a restart looks them up."""
        reserved = [(j.id, j.paused_interface) for j in self.jobs if j.paused_interface]
        return self.attempts.forgotten(self.attempts.reservations.release_all(reserved, now))

    # ---- results of commands ----------------------------------------------------------
    def on_result(self, result: Result, now: float) -> list[Command]:
        """What the shell reports about a command; the answer runs before the rest of its batch."""
        command = result.command
        if isinstance(command, ContinueLogin):
            return self._login_continued(command.link, now)
        if isinstance(command, RecordCall) and isinstance(result, Done):
            assert isinstance(result.value, Recorded)
            return self._recorded(command, result.value, now)
        if isinstance(command, SaveJob) and isinstance(result, Done) and isinstance(result.value, CallbackJob):
            return self.promise_stored(result.value, now)
        if isinstance(command, Originate):
            return self._originated(command, result, now)
        if isinstance(command, Unpause):
            reservations = self.attempts.reservations
            if isinstance(result, Failed):
                if not isinstance(result.error, AmiNotConnected):
                    self._log.warning(
                        "agent_unpause_failed",
                        redial_id=command.job_id,
                        interface=command.interface,
                        error=str(result.error),
                    )
                return self.attempts.forgotten(reservations.unpause_failed(command, result.error))
            return self.attempts.forgotten(reservations.unpaused(command))
        if isinstance(command, ResolveHint):
            return self._hint_answered(command, result, now)
        if isinstance(result, Failed):
            if isinstance(command, Pause) and not isinstance(result.error, AmiNotConnected):
                # Rung anyway: a queue call may slip in, but the customer is not kept waiting.
                self._log.warning(
                    "agent_pause_failed", redial_id=command.job_id, interface=command.interface, error=str(result.error)
                )
            elif isinstance(command, QueueLog):
                self._log.warning(
                    "queue_log_failed", redial_id=command.job_id, verb=command.verb, error=str(result.error)
                )
        return []

    def _originated(self, command: Originate, result: Result, now: float) -> list[Command]:
        started = command.job
        job = self.jobs.get(started.id)
        if job is None or job.state is not JobState.ORIGINATING or job.channel_id != started.channel_id:
            return []  # its events already moved it on
        if isinstance(result, Done):
            self.metrics.drop_to_redial.observe(max(0.0, now - job.dropped_at))
            kind = "fallback" if command.fallback else "agent"
            fields = [str(job.id), str(job.attempt), job.customer_number, job.channel_id, kind]
            return self.attempts.queue_log(job, "REDIALSTART", fields)
        error = result.error
        if isinstance(error, AmiNotConnected):
            retry = move(
                job,
                Trigger.NOT_SENT,
                f"not sent ({error}); retrying",
                due_at=now + RETRY_WHEN_DISCONNECTED,
                originated_at=None,
            )
            return [self.jobs.save(retry), *self.attempts.release_reservation(retry, now)]
        if isinstance(error, AmiTimeout):
            # Sent but unanswered: never resend; the events or the outcome deadline decide.
            self._log.warning("originate_unanswered", redial_id=job.id, channel_id=job.channel_id, error=str(error))
            return []
        ended = move(job, Trigger.ATTEMPT_ENDED, f"Asterisk refused the Originate: {error}", Outcome.FAILED)
        return self.attempts.finish(job, ended, now)

    def _recorded(self, command: RecordCall, recorded: Recorded, now: float) -> list[Command]:
        if recorded.call_id is None:
            self._log.warning("call_already_recorded", **command.log_fields)
            return []
        self._log.info("decision", call_id=recorded.call_id, **command.log_fields)
        job = recorded.job
        if job is None:
            return []
        self.intake.redial_created(command.number_key, now)
        self.jobs.put(job)
        self.jobs.log(job)
        # The customer may have called again before Asterisk noticed the drop (rtp_timeout).
        on_call = self._customer_on_call(job)
        if on_call is None:
            return []
        outcome, detail = on_call
        return self.attempts.finish(job, move(job, Trigger.CUSTOMER_REACHED_US, detail, outcome), now)

    def _hint_answered(self, command: ResolveHint, result: Result, now: float) -> list[Command]:
        device = device_in_hint(str(result.value)) if isinstance(result, Done) else None
        if device is not None:
            self.board.set_hint_devices({command.state_interface: device})
        else:
            error = str(result.error) if isinstance(result, Failed) else "the hint names no phone"
            self._log.warning("hint_unresolved", state_interface=command.state_interface, error=error)
        job = self.jobs.get(command.for_job) if command.for_job is not None else None
        if job is None or job.state not in PENDING:
            return []
        return self.attempts.attempt(job, now)


def _turn(job: CallbackJob) -> tuple[int, float, int]:
    """The order due jobs are worked in: drop redials first, then promises by their time, then
    queue callbacks by their place."""
    if job.kind is JobKind.QUEUE_CALLBACK:
        return (2, job.joined_at if job.joined_at is not None else job.due_at, job.id)
    if job.kind is JobKind.PROMISED_CALLBACK:
        return (1, job.due_at, job.id)
    return (0, job.due_at, job.id)


__all__ = ["CallbackEngine", "EngineInput", "LinkUp"]
