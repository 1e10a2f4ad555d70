"""Working a due job: whom to ring, the Originate, and what an ended attempt leads to. Pure: commands out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload

import structlog

from redial.ami.actions import OriginateRequest, originate_action, queue_log_action
from redial.config import PolicySettings, Settings
from redial.core.agents import AgentBoard, AgentView, Availability
from redial.core.attention import Attention
from redial.core.commands import Command, ForgetReservation, Originate, QueueLog, ResolveHint
from redial.core.jobs import PENDING, CallbackJob, JobKind, JobState, Outcome, Trigger, channel_id_for, move
from redial.core.open_jobs import OpenJobs
from redial.core.progress import AGENT_OUTCOMES
from redial.core.promises import Promises
from redial.core.queue_callbacks import QueueCallbacks
from redial.core.reservations import Reservations
from redial.exceptions import UnsafeValueError
from redial.policy.attempt import Defer, GiveUp, Ring, WaitForAgent, plan_attempt
from redial.policy.guard import OutageGuard
from redial.policy.hours import is_open
from redial.service.metrics import Metrics

# A job waiting for its busy agent is planned again when the queue members or the
# open jobs change, at its deadline, and at least this often (wrap-up ends, hours).
AGENT_RECHECK = 1.0
# A queue callback every member failed to take (their phones did not answer) is tried on
# all of them again this much later.
MEMBERS_AGAIN_AFTER = 30.0


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


class Attempts:
    """Plans and rings due jobs; ends attempts and starts what follows them."""

    def __init__(
        self,
        settings: Settings,
        board: AgentBoard,
        jobs: OpenJobs,
        guard: OutageGuard,
        metrics: Metrics,
        log: structlog.typing.FilteringBoundLogger,
        customer_on_call: Callable[[CallbackJob], tuple[Outcome, str] | None],
        callbacks: QueueCallbacks,
        promises: Promises,
    ) -> None:
        self.settings = settings
        self.callbacks, self.promises = callbacks, promises
        self._board, self._jobs, self._guard = board, jobs, guard
        self._metrics, self._log = metrics, log
        self._customer_on_call = customer_on_call
        self.reservations = Reservations(self._paused_by_agent, lambda: self.settings.policy.agent.pause_reason)
        # What each job waiting for its agent was last planned against: the versions of its
        # agent's entries, of the open jobs and (if the plan looked at other members) of the
        # whole board, and the time.
        self._agent_plans: dict[int, tuple[int, int, int | None, float]] = {}
        self._plans_of = -1  # the open jobs' version when the two were last pruned
        # Job id -> when the wrap-up its agent is in ends (no AMI event says so).
        self.wrapup_ends: dict[int, float] = {}
        self._action_seq = 0
        # Hints asked about since the last login: each member's is looked up once, before its first ring.
        self.hints_asked: set[str] = set()
        # Jobs that ended with nobody able to take them or unreached: a person must see them.
        self.attention = Attention(log)

    # ---- planning -------------------------------------------------------------------
    def replan_due(self, job: CallbackJob, now: float) -> bool:
        """Could the plan of a job waiting for its agent come out differently than last time?"""
        last = self._agent_plans.get(job.id)
        if last is None:
            return True
        agent_version, open_version, board_version, planned_at = last
        if job.kind is not JobKind.DROP_REDIAL:
            # Its turn comes with a change of the line, the members, or the open jobs.
            return (
                now >= planned_at + AGENT_RECHECK
                or open_version != self._jobs.version
                or board_version != self._turn_stamp()
            )
        return (
            now >= planned_at + AGENT_RECHECK
            or (job.agent_deadline is not None and now >= job.agent_deadline)
            or open_version != self._jobs.version
            or agent_version != self._board.version_of(job.agent_interface)
            or (board_version is not None and board_version != self._board.version)
        )

    def forget_plans(self) -> None:
        """Drop what is kept about jobs that are no longer open (so it never grows)."""
        if self._plans_of == self._jobs.version:
            return
        self._plans_of = self._jobs.version
        for gone in [job_id for job_id in self._agent_plans if job_id not in self._jobs]:
            del self._agent_plans[gone]
        if self.wrapup_ends:
            self.wrapup_ends = {job_id: at for job_id, at in self.wrapup_ends.items() if job_id in self._jobs}

    def attempt(self, job: CallbackJob, now: float) -> list[Command]:
        if job.kind is not JobKind.DROP_REDIAL:
            return self._attempt_callback(job, now)
        on_call = self._customer_on_call(job)
        if on_call is not None:  # checked again at every turn: the customer may have called meanwhile
            outcome, detail = on_call
            return self.finish(job, move(job, Trigger.CUSTOMER_REACHED_US, detail, outcome), now)
        policy = self.settings.policy_for(job.queue)
        reason = policy.agent.pause_reason
        reserved = self._jobs.reserved(job.id)
        agent = self._board.view(job.agent_interface, now, reason)
        if agent.interface in reserved:
            agent = AgentView(agent.interface, Availability.BUSY, f"{agent.interface} is ringing for another redial")
        stamp = (self._board.version_of(job.agent_interface), self._jobs.version, self._board.version)
        passed_over = frozenset(job.passed_over)
        free = _FreeMembers(
            lambda: self._board.free_members(
                job.queue, now, reason, exclude=reserved | passed_over | {job.agent_interface}
            )
        )
        plan = plan_attempt(
            policy=policy,
            agent=agent,
            free_members=free,
            hours=is_open(now, policy.hours),
            guard_slot=self._guard.slot(job.trunk, now),
            agent_deadline=job.agent_deadline,
            now=now,
            passed_over=passed_over,
            others_left=not passed_over
            or any(m not in passed_over and m != job.agent_interface for m in self._board.members_of(job.queue)),
        )
        if isinstance(plan, GiveUp):
            return self.finish(job, move(job, Trigger.GIVE_UP, plan.detail, plan.outcome), now)
        if isinstance(plan, Defer):
            return self._defer(job, plan)
        if isinstance(plan, WaitForAgent):
            self._agent_plans[job.id] = (stamp[0], stamp[1], stamp[2] if free.looked_up else None, now)
            if agent.wrapup_until is not None:
                self.wrapup_ends[job.id] = float(agent.wrapup_until)
            else:
                self.wrapup_ends.pop(job.id, None)
            if job.state is JobState.WAITING_AGENT and job.agent_deadline == plan.until:
                return []
            return [self._jobs.save(move(job, Trigger.WAIT_AGENT, plan.detail, agent_deadline=plan.until))]
        hint = self._hint_first(job, plan.interface)
        if hint:
            return hint
        self._guard.take(job.trunk, now)
        return self._ring(job, plan, policy, now)

    def _attempt_callback(self, job: CallbackJob, now: float) -> list[Command]:
        """A queue callback's turn (:meth:`QueueCallbacks.plan`) or a due promise's (:meth:`Promises.plan`)."""
        # A drop redial goes first: the agent it waits for (its window, their call) is not taken,
        # nor one whose queue call just ended and is not decided yet (it may be a drop).
        held = {
            j.agent_interface
            for j in self._jobs
            if j.kind is JobKind.DROP_REDIAL and j.state in PENDING and j.agent_interface not in j.passed_over
        } | self.callbacks.agents_on_calls()
        planner = self.callbacks.plan if job.kind is JobKind.QUEUE_CALLBACK else self.promises.plan
        plan = planner(job, now, self._jobs.reserved(job.id) | held)
        if isinstance(plan, Defer):
            return self._defer(job, plan)
        if isinstance(plan, WaitForAgent):
            self._agent_plans[job.id] = (-1, self._jobs.version, self._turn_stamp(), now)
            # Stored once per change of what it waits for (its detail), not at every recheck.
            if job.state is JobState.WAITING_AGENT and job.detail == plan.detail:
                return []
            return [self._jobs.save(move(job, Trigger.WAIT_AGENT, plan.detail, agent_deadline=plan.until))]
        return self._hint_first(job, plan.interface) or self._ring(job, plan, self.settings.policy_for(job.queue), now)

    def _turn_stamp(self) -> int:
        """What a queue callback's turn depends on, as one number: members, lines and followed calls only grow it."""
        return self._board.version + self.callbacks.line_version

    def _defer(self, job: CallbackJob, plan: Defer) -> list[Command]:
        """Not before ``plan.until``: stored only when that changes."""
        if job.state is JobState.WAITING and job.due_at == plan.until:
            return []
        if job.kind is JobKind.PROMISED_CALLBACK:
            # A promise deferred (closed hours, the customer on a call) gives its owner a new wait.
            return [self._jobs.save(move(job, Trigger.DEFER, plan.detail, due_at=plan.until, agent_deadline=None))]
        return [self._jobs.save(move(job, Trigger.DEFER, plan.detail, due_at=plan.until))]

    def _hint_first(self, job: CallbackJob, interface: str) -> list[Command]:
        """A member added since the last login: find the phone behind its hint, then try again."""
        unresolved = self._board.unresolved_hint(interface)
        if unresolved is not None and unresolved not in self.hints_asked:
            return [self.resolve_hint(unresolved, for_job=job.id)]
        return []

    def resolve_hint(self, state_interface: str, for_job: int | None = None) -> ResolveHint:
        self.hints_asked.add(state_interface)
        exten, _, context = state_interface.removeprefix("hint:").partition("@")
        return ResolveHint(state_interface, exten, context or "default", for_job)

    def _ring(self, job: CallbackJob, plan: Ring, policy: PolicySettings, now: float) -> list[Command]:
        self._action_seq += 1
        originate = self.settings.originate
        experience = policy.experience
        channel_id = channel_id_for(originate.channel_id_prefix, job.id, job.rings + 1, job.linkedid)
        shown = job.dialled if experience.customer_caller_id == "dialled" else experience.customer_caller_id
        request = OriginateRequest(
            redial_id=job.id,
            channel_id=channel_id,
            agent_interface=self._board.device_of(plan.interface),
            customer_number=job.dial_number or job.customer_number,
            route_context=originate.customer_route or "",
            trunk=originate.trunk or job.trunk,
            did=job.dialled,
            original_uniqueid=job.original_uniqueid,
            queue=job.queue,
            context=originate.context,
            account=originate.account,
            caller_id_name=experience.agent_caller_id_name,
            agent_ring_timeout=originate.agent_ring_timeout,
            customer_ring_timeout=originate.customer_ring_timeout,
            agent_prompt=experience.agent_prompt,
            customer_greeting=experience.customer_greeting,
            show_number=shown,
            agent_name=self._board.name_of(plan.interface) or (job.agent_member if not plan.fallback else ""),
        )
        if job.kind is JobKind.QUEUE_CALLBACK:
            request = self.callbacks.originate_request(request, job, now)
        elif job.kind is JobKind.PROMISED_CALLBACK:
            request = self.promises.originate_request(request, job, plan.interface)
        try:
            action = originate_action(request, f"{channel_id}-o{self._action_seq}")
        except UnsafeValueError as exc:
            return self.finish(job, move(job, Trigger.GIVE_UP, f"not originated: {exc}", Outcome.FAILED), now)
        commands: list[Command] = []
        if job.paused_interface and job.paused_interface != plan.interface:
            # A member who failed earlier stayed paused (the link was down): theirs first.
            commands += self.release(job.id, job.paused_interface, now)
        # Reserve the agent so no queue call slips in while their phone rings for the redial.
        reserve = bool(self._board.queues_of(plan.interface))
        # Write-ahead: ORIGINATING and the reservation are stored before the Pause and the
        # Originate go out, so no later run sends this Originate again or forgets the pause.
        started = move(
            job,
            Trigger.RING,
            f"Originate sent; ringing {plan.interface}",
            originated_at=now,
            channel_id=channel_id,
            ring_interface=plan.interface,
            bridged_legs=0,
            rings=job.rings + 1,
            paused_interface=plan.interface if reserve else None,
        )
        if plan.fallback:
            self._log.info("redial_fallback", redial_id=job.id, interface=plan.interface, detail=plan.detail)
        commands.append(self._jobs.save(started))
        if reserve:
            commands.append(self.reservations.reserve(job.id, plan.interface, policy.agent.pause_reason))
        commands.append(Originate(started, action, plan.fallback))
        return commands

    # ---- ends -----------------------------------------------------------------------
    def queue_log(self, job: CallbackJob, verb: str, fields: list[str]) -> list[Command]:
        """Audit line in queue_log, linked to the dropped call (or the queue entry that asked) by its Uniqueid."""
        if not self.settings.originate.queue_log:
            return []
        if job.kind is not JobKind.DROP_REDIAL:
            verb = verb.replace("REDIAL", "CALLBACK" if job.kind is JobKind.QUEUE_CALLBACK else "PROMISE")
        interface = job.ring_interface or job.agent_interface
        return [QueueLog(job.id, verb, queue_log_action(job.queue, interface, job.original_uniqueid, verb, fields))]

    def _next_after(self, job: CallbackJob, ended: CallbackJob, now: float) -> CallbackJob | None:
        """What an ended attempt leads to: another member, a retry of the customer, or nothing."""
        outcome = ended.outcome
        if outcome in AGENT_OUTCOMES and ended.ring_interface:
            # The agent's phone did not take it, so the customer was never rung: another
            # member takes over now (or, when none can, a callback is recorded). This is
            # no attempt on the customer.
            passed, due, detail = (*job.passed_over, ended.ring_interface), now, "trying another member"
            if job.kind is not JobKind.DROP_REDIAL and set(self._board.members_of(job.queue)) <= set(passed):
                # Every member failed to take it: all of them again, after a pause (never a ring loop).
                passed, due, detail = (), now + MEMBERS_AGAIN_AFTER, f"every member again in {MEMBERS_AGAIN_AFTER:g} s"
            return move(
                job,
                Trigger.NEXT_MEMBER,
                f"{ended.ring_interface} did not take it ({outcome.value if outcome else ''}); {detail}",
                due_at=due,
                originated_at=None,
                passed_over=passed,
                agent_deadline=None,
                ring_interface="",
                bridged_legs=0,
            )
        if job.kind is JobKind.QUEUE_CALLBACK:
            return self.callbacks.retry(job, ended, now)
        if job.kind is JobKind.PROMISED_CALLBACK:
            return self.promises.retry(job, ended, now)
        retry = self.settings.policy_for(job.queue).retry
        if outcome is None or outcome.value not in retry.retry_on or job.attempt >= retry.attempts:
            return None
        return move(
            job,
            Trigger.RETRY,
            f"attempt {job.attempt + 1} of {retry.attempts} in {retry.spacing:g} s after {outcome.value}",
            due_at=now + retry.spacing,
            originated_at=None,
            attempt=job.attempt + 1,
            agent_deadline=None,
            ring_interface="",
            bridged_legs=0,
        )

    def finish(self, job: CallbackJob, ended: CallbackJob, now: float) -> list[Command]:
        """Store an attempt's end and what follows it in one commit, then act on both.

        ``job`` is the job as held before the end. Two commits would let a crash between
        them keep the end alone: a job that should have gone to another member, or been
        retried, would stay finished.
        """
        following = self._next_after(job, ended, now)
        if following is None and job.kind is JobKind.QUEUE_CALLBACK:
            ended = self.callbacks.final(ended)
        elif following is None and job.kind is JobKind.PROMISED_CALLBACK:
            ended = self.promises.final(ended)
        if following is None:
            # A drop nobody could take becomes the queue's promise, in the same commit.
            promise = None
            if ended.outcome is Outcome.CALLBACK_REQUESTED and self.settings.promise.enabled:
                promise = self.promises.from_drop(ended, now)
            commands: list[Command] = [self._jobs.save(ended, then_promise=promise)]
        else:
            commands = [self._jobs.save(following, ended_attempt=ended)]
        if ended.outcome is not None:
            self._metrics.outcomes.labels(ended.outcome.value).inc()
            if job.kind is JobKind.QUEUE_CALLBACK:
                self.callbacks.count_end(ended, now)
            elif job.kind is JobKind.PROMISED_CALLBACK:
                self.promises.count_end(ended)
            elif ended.outcome is Outcome.CONNECTED:
                self._metrics.drop_to_connected.observe(max(0.0, now - ended.dropped_at))
        if ended.originated_at is not None:
            outcome = ended.outcome.value if ended.outcome else "unknown"
            took = f"{max(0.0, now - ended.originated_at):.0f}"
            commands += self.queue_log(ended, "REDIALEND", [str(ended.id), str(ended.attempt), outcome, took])
        if ended.outcome is Outcome.CONNECTED and ended.paused_interface and job.kind is not JobKind.PROMISED_CALLBACK:
            # Agent and customer are talking: keep the agent out of the queue until it ends
            # (a promise is finished only once their talk ended: released now).
            self.reservations.hold(ended.channel_id, ended.id, ended.paused_interface)
            return commands
        commands += self.release_reservation(following or ended, now)
        if following is None and ended.outcome is Outcome.CALLBACK_REQUESTED:
            if self.settings.promise.enabled:
                # The queue's promise (stored with this end) calls the customer: nobody else must.
                self._log.info("drop_became_promise", redial_id=ended.id, queue=ended.queue, detail=ended.detail)
            else:
                self.attention.callback_requested(ended, now)
        if following is None and ended.outcome is Outcome.UNREACHED:
            self.attention.unreached(ended, now)
            if job.kind is JobKind.PROMISED_CALLBACK:
                commands.append(self.promises.alert(ended, now))
        return commands

    # ---- reservations ---------------------------------------------------------------
    def release_reservation(self, job: CallbackJob, now: float) -> list[Command]:
        if not job.paused_interface:
            return []
        return self.release(job.id, job.paused_interface, now)

    def release(self, job_id: int, interface: str, now: float) -> list[Command]:
        return self.forgotten(self.reservations.release(job_id, interface, now))

    def forgotten(self, commands: list[Command]) -> list[Command]:
        """A released reservation is gone from the open job held here too, not only from the store."""
        for command in commands:
            if isinstance(command, ForgetReservation):
                job = self._jobs.get(command.job_id)
                if job is not None and job.paused_interface == command.interface:
                    self._jobs.put(job.changed(paused_interface=None))
                self._log.info("agent_released", redial_id=command.job_id, interface=command.interface)
        return commands

    def _paused_by_agent(self, interface: str, now: float) -> bool:
        """Paused with a reason that is none of the daemon's own (queues may override it): theirs to undo."""
        policies = [self.settings.policy, *self.settings.queue_policies.values()]
        views = [self._board.view(interface, now, p.agent.pause_reason) for p in policies]
        if all(v.availability is Availability.PAUSED for v in views):
            self._log.info("agent_left_paused", interface=interface, detail=views[0].detail)
            return True
        return False
