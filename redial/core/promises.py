"""Promised callbacks: making a promise, and whom a due one rings. Pure: no I/O.

A promise is made on the phone (the agent's ``*7`` feature, through the FastAGI), with
``redial promise`` or the HTTP API, or by the daemon itself when a drop redial found
nobody to take it. It is stored before anyone is told it exists. When due, its owner
is reserved and rung first; a member of the queue takes it at once when the owner is
logged off, paused for another reason, failed to answer, or stayed busy past
``policy.promise.owner_wait``. A customer not reached is tried again along the queue's
ladder; after the last rung the promise is ``unreached``, in sight and alerted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redial.ami.actions import OriginateRequest
from redial.config import BusinessHours, Settings
from redial.core.agents import AgentBoard, AgentView, Availability
from redial.core.calls import trunk_of
from redial.core.commands import Alert, RecordPromise
from redial.core.jobs import CallbackJob, JobKind, Outcome, tried_again, unreached
from redial.core.open_jobs import OpenJobs
from redial.core.tracked_call import TrackedCall
from redial.exceptions import PromiseRefused
from redial.policy.attempt import Defer, Ring, WaitForAgent
from redial.policy.hours import is_open, next_open
from redial.policy.numbers import NumberCheck
from redial.policy.when import due_time
from redial.service.metrics import Metrics


@dataclass(frozen=True, slots=True)
class PromiseRequest:
    """A promise to make, as the CLI, the HTTP API or the phone gives it (raw; checked by the engine).

    When: exactly one of ``within`` (``90s``, ``30m``, ``2h``), ``at`` (ISO 8601, or
    ``HH:MM`` today in the queue's time zone) and ``minutes`` (the phone's keyed minutes).
    """

    number: str = ""
    within: str = ""
    at: str = ""
    minutes: int | None = None
    # A queue member's name or interface (PJSIP/1001, Local/1001@from-queue/n); "" = the queue's.
    agent: str = ""
    queue: str = ""
    note: str = ""
    # The original call: its Uniqueid or Linkedid (a live call, or one in the store).
    call: str = ""
    # Who made it: the connecting user (control socket), "api", or the agent's interface.
    by: str = ""
    # cli, api, phone, drop.
    source: str = "cli"


@dataclass(frozen=True, slots=True)
class PromiseAnswer:
    """The promise made (its id, when, whose), or why not in words."""

    ok: bool
    detail: str
    promise_id: int | None = None
    due_at: float = 0.0
    queue: str = ""
    # The owner's member name ("" for the queue's), for the customer's confirmation.
    agent_name: str = ""
    agent_interface: str = ""
    # Whole minutes from now to the due time (what the phone says).
    minutes: int = 0
    # The time asked for falls outside the queue's business hours: due_at is its next opening.
    moved: bool = False


# The customer is on a call with the PBX (still hearing the promise, say): look again this much later.
ON_CALL_RECHECK = 5.0
# A promise waiting for a free member is planned again at every change of the members and
# open jobs, and at least every attempts.AGENT_RECHECK (1 s): this deadline is nominal.
MEMBER_RECHECK = 3600.0
# When hours are set but no opening is found within two weeks.
_CLOSED_RECHECK = 3600.0


def whole_minutes(seconds: float) -> int:
    """What the customer hears: whole minutes, rounded (at least 0)."""
    return max(0, round(seconds / 60))


class Promises:
    """Making promises, and the plan, the Originate and the ladder of a due one."""

    def __init__(
        self,
        settings: Settings,
        board: AgentBoard,
        jobs: OpenJobs,
        find_call: Callable[[str], TrackedCall | None],
        number_key: Callable[[str], str],
        check_number: Callable[[str, str], NumberCheck],
        on_live_call: Callable[[str], bool],
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self._board, self._jobs = board, jobs
        self._find_call = find_call
        self._number_key = number_key
        self._check_number = check_number
        self._on_live_call = on_live_call
        self._metrics = metrics
        self._made = 0  # promises made by this run: part of each one's unique key

    # ---- making one -------------------------------------------------------------------
    def make(self, request: PromiseRequest, now: float, latest: Mapping[str, Any] | None) -> RecordPromise:
        """The promise to store, from ``request`` and the customer's latest call in the store
        (``latest``); :class:`PromiseRefused` names what is wrong."""
        if not self.settings.promise.enabled:
            raise PromiseRefused("promised callbacks are disabled (promise.enabled)")
        live = self._find_call(request.call) if request.call else None
        if request.source == "phone" and live is None:
            raise PromiseRefused("no queue call of this channel is followed: the promise needs the call")
        if request.source == "phone" and live is not None and request.by == live.customer_channel:
            # The feature reaches the customer's side too: their keys never make a promise.
            raise PromiseRefused("the customer's channel pressed the feature code: only the agent makes a promise")
        known = _facts(live, latest)
        number = request.number or known["customer_number"]
        if not number:
            raise PromiseRefused("give the customer's number (or the call's id)")
        # Without an agent a promise is the queue's; on the phone, the agent who made it owns it.
        agent = request.agent or (known["agent_interface"] if request.source == "phone" else "")
        owner, member, queue = self._owner(agent, request.queue or known["queue"])
        if not queue:
            raise PromiseRefused("name the queue (--queue): the promise belongs to a queue")
        queues = self._board.queues() | set(self.settings.queue_policies) | set(self.settings.policy.queues or ())
        if self._board.known and queue not in queues:
            # A misspelled queue would wait for a member forever.
            raise PromiseRefused(f"no queue {queue!r} is known (queues with members: {', '.join(sorted(queues))})")
        check = self._check_number(number, queue)
        if not check.allowed:
            raise PromiseRefused(f"{number} cannot be called back: {check.detail}")
        timezone = self.settings.policy_for(queue).hours.timezone
        ahead = self.settings.promise.max_ahead_days
        due = due_time(request.within, request.at, request.minutes, now, timezone, ahead)
        self._made += 1
        return RecordPromise(
            key=f"{now:.6f}-{self._made}",
            number=number,
            number_key=self._number_key(number) or check.e164,
            dial_number=check.dial_number,
            dialled=known["dialled"],
            queue=queue,
            trunk=known["trunk"],
            owner_interface=owner,
            owner_member=member,
            due_at=due,
            note="".join(ch for ch in request.note if ch.isprintable())[:500],
            made_by=request.by or request.source,
            source=request.source,
            original_uniqueid=known["customer_uniqueid"],
            channel_prefix=self.settings.originate.channel_id_prefix,
        )

    def _owner(self, agent: str, queue: str) -> tuple[str, str, str]:
        """(interface, member name, queue) of the owner ``agent`` names (a member name or interface, or a
        member's device); ("", "", queue) for the queue's own promise."""
        if not agent:
            return "", "", queue
        matches = self._board.find_member(agent)
        if not matches:
            raise PromiseRefused(f"no queue member is known as {agent!r} (a member name or interface)")
        if queue:
            in_queue = [m for m in matches if queue in self._board.queues_of(m)]
            if not in_queue:
                raise PromiseRefused(f"{agent} is not a member of the queue {queue}")
            matches = in_queue
        interface = matches[0]
        queues = self._board.queues_of(interface)
        if not queue:
            if len(queues) != 1:
                raise PromiseRefused(f"{agent} is a member of {', '.join(queues)}: name the queue (--queue)")
            queue = queues[0]
        return interface, self._board.name_of(interface), queue

    def from_drop(self, ended: CallbackJob, now: float) -> RecordPromise:
        """A drop redial nobody could take, as a promise owned by its queue (due now: its next opening)."""
        return RecordPromise(
            key=f"drop-{ended.id}",
            number=ended.customer_number,
            number_key=self._number_key(ended.customer_number),
            dial_number=ended.dial_number,
            dialled=ended.dialled,
            queue=ended.queue,
            trunk=ended.trunk,
            owner_interface="",
            owner_member="",
            due_at=now,
            note=f"drop redial {ended.id}: {ended.detail}"[:500],
            made_by="redial",
            source="drop",
            original_uniqueid=ended.original_uniqueid,
            channel_prefix=self.settings.originate.channel_id_prefix,
        )

    def answer(self, job: CallbackJob, now: float) -> PromiseAnswer:
        """What the maker is told once the promise is stored."""
        due = self.first_due(job.queue, job.due_at)
        moved = "" if due <= job.due_at else "; outside business hours: moved to the next opening"
        owner = job.agent_member or job.agent_interface or f"the queue {job.queue}"
        return PromiseAnswer(
            ok=True,
            detail=f"promise {job.id} stored: {owner} calls {job.customer_number} back{moved}",
            promise_id=job.id,
            due_at=due,
            queue=job.queue,
            agent_name=job.agent_member,
            agent_interface=job.agent_interface,
            minutes=whole_minutes(due - now),
            moved=due > job.due_at,
        )

    def first_due(self, queue: str, when: float) -> float:
        """When a promise for ``when`` first rings: that time, or the queue's next opening after it."""
        hours = self.settings.policy_for(queue).hours
        if is_open(when, hours).open:
            return when
        return next_open(when, hours) or when

    # ---- keeping it -------------------------------------------------------------------
    def plan(self, job: CallbackJob, now: float, reserved: set[str]) -> Ring | WaitForAgent | Defer:
        """Whom a due promise rings: its owner first, another member when the owner cannot."""
        policy = self.settings.policy_for(job.queue)
        opened = is_open(now, policy.hours)
        if not opened.open:
            until = next_open(now, policy.hours) or now + _CLOSED_RECHECK
            return Defer(until, f"{opened.detail}: the promise waits for the next opening")
        if self._on_live_call(self._number_key(job.customer_number)):
            return Defer(now + ON_CALL_RECHECK, "the customer is on a call with the PBX; never dialled meanwhile")
        reason = policy.agent.pause_reason
        owner = job.agent_interface
        passed = set(job.passed_over)
        # One deadline per attempt (agent_deadline): until then a busy owner is waited for;
        # after it, and for the queue's own promise, it only dates the wait for a free member.
        deadline = job.agent_deadline
        if deadline is None:
            deadline = now + (policy.promise.owner_wait if owner else MEMBER_RECHECK)
        why = "the queue's promise"
        if owner and owner not in passed:
            view = self._board.view(owner, now, reason)
            if owner in reserved:
                view = AgentView(owner, Availability.BUSY, f"{owner} is ringing for another callback", view.queues)
            if view.availability in (Availability.FREE, Availability.UNKNOWN):
                return Ring(owner, False, f"the owner {owner} is free")
            # The detail says no countdown: a waiting promise is stored when what it waits for
            # changes, not every second.
            why = f"{owner} is in wrap-up" if view.wrapup_until is not None else view.detail
            if view.availability is Availability.BUSY and now < deadline:
                return WaitForAgent(deadline, f"{why}; the owner is waited for up to {policy.promise.owner_wait:g} s")
        elif owner:
            why = f"the owner {owner} did not take it"
        free = self._board.free_members(job.queue, now, reason, exclude=reserved | passed | {owner})
        if free:
            return Ring(free[0], bool(owner), f"{why}: ringing {free[0]} of {job.queue}")
        return WaitForAgent(deadline, f"{why}: waiting for a free member of {job.queue}")

    def originate_request(self, request: OriginateRequest, job: CallbackJob, interface: str) -> OriginateRequest:
        """A redial's Originate made a promise's: "PROMISED" on the phone, the whisper of whose promise."""
        policy = self.settings.policy_for(job.queue).promise
        name = job.agent_member or self._board.name_of(job.agent_interface)
        sound = policy.name_sounds.get(name) or policy.name_sounds.get(job.agent_interface) or ""
        timeout = policy.owner_ring_timeout if interface == job.agent_interface else request.agent_ring_timeout
        return dataclasses.replace(
            request,
            caller_id_name=policy.agent_caller_id_name,
            agent_ring_timeout=timeout,
            agent_prompt=policy.sounds.whisper_before,
            promise=True,
            owner_name=name,
            owner_sound=sound,
            note_sound=policy.sounds.note_exists if job.note else (),
        )

    # ---- the ladder and the end -------------------------------------------------------
    def retry(self, job: CallbackJob, ended: CallbackJob, now: float) -> CallbackJob | None:
        """The next rung of the queue's ladder when the customer was not reached; None after the last."""
        ladder = self.settings.policy_for(job.queue).promise.ladder
        if ended.outcome not in _RETRIED or job.attempt > len(ladder):
            return None
        delay = ladder[job.attempt - 1]
        hours = self.settings.policy_for(job.queue).hours
        due = now + delay if delay is not None else next_opening_after(now, hours)
        when = f"in {delay:g} s" if delay is not None else "at the next opening"
        outcome = ended.outcome.value if ended.outcome else ""
        return tried_again(job, f"attempt {job.attempt + 1} of {len(ladder) + 1} {when} after {outcome}", due)

    def final(self, ended: CallbackJob) -> CallbackJob:
        """The end of a promise: kept (late or not), or ``unreached`` after the ladder's last rung."""
        if ended.outcome is Outcome.CONNECTED:
            policy = self.settings.policy_for(ended.queue).promise
            promised = ended.promised_at if ended.promised_at is not None else ended.due_at
            # Moved to the queue's next opening (and told so): late only from that opening.
            promised = self.first_due(ended.queue, promised)
            kept_at = ended.connected_at if ended.connected_at is not None else promised
            return ended.changed(late=kept_at > promised + policy.late_after)
        return ended if ended.outcome in _CLOSED else unreached(ended)

    def alert(self, ended: CallbackJob, now: float) -> Alert:
        """What the admin's webhook gets for an unreached promise (the log and status have it too)."""
        return Alert(
            {
                "event": "promise_unreached",
                "promise_id": ended.id,
                "customer": ended.customer_number,
                "queue": ended.queue,
                "owner": ended.agent_member or ended.agent_interface or "",
                "attempts": ended.attempt,
                "promised_at": ended.promised_at,
                "note": ended.note,
                "detail": ended.detail,
                "at": now,
            }
        )

    def count_made(self, job: CallbackJob) -> None:
        self._metrics.promises.labels(job.queue, "made").inc()
        self.count_pending(job.queue)

    def count_end(self, ended: CallbackJob) -> None:
        count = self._metrics.promises.labels
        if ended.outcome is Outcome.CONNECTED:
            by_owner = not ended.agent_interface or ended.ring_interface == ended.agent_interface
            count(ended.queue, "kept_by_owner" if by_owner else "kept_by_other").inc()
            if ended.late:
                count(ended.queue, "late").inc()
        elif ended.outcome is Outcome.UNREACHED:
            count(ended.queue, "unreached").inc()
        elif ended.outcome is Outcome.CUSTOMER_CALLED_BACK:
            count(ended.queue, "called_back").inc()
        elif ended.outcome is Outcome.CANCELLED:
            count(ended.queue, "cancelled").inc()
        self.count_pending(ended.queue)

    def count_pending(self, queue: str) -> None:
        pending = sum(1 for j in self._jobs if j.kind is JobKind.PROMISED_CALLBACK and j.queue == queue)
        self._metrics.promises_pending.labels(queue).set(pending)


def _facts(live: TrackedCall | None, latest: Mapping[str, Any] | None) -> dict[str, str]:
    """What the live call (first) or the customer's latest stored call tell of a new promise."""
    stored = latest or {}
    keys = ("customer_number", "queue", "agent_interface", "dialled", "customer_uniqueid")
    facts = {key: str(getattr(live, key, "") or stored.get(key) or "") for key in keys}
    facts["trunk"] = (trunk_of(live.customer_channel) if live else "") or str(stored.get("trunk") or "")
    return facts


def next_opening_after(now: float, hours: BusinessHours) -> float:
    """The start of the queue's next opening after the current one (tomorrow, when always open)."""
    if hours.weekly is None:
        return now + 86400.0
    step, when = 300.0, now
    for _ in range(14 * 288):  # find the close of the current opening (5-minute steps, two weeks)
        if not is_open(when, hours).open:
            break
        when += step
    return next_open(when, hours) or now + 86400.0


# Attempts that did not reach the customer, tried again along the ladder. Never FAILED:
# an outcome that was not seen may have reached them.
_RETRIED = frozenset({Outcome.CUSTOMER_NO_ANSWER, Outcome.CUSTOMER_BUSY, Outcome.TALK_TOO_SHORT})
# Ends that are no failure to reach the customer.
_CLOSED = frozenset({Outcome.CUSTOMER_CALLED_BACK, Outcome.CUSTOMER_ON_CALL, Outcome.CANCELLED})
