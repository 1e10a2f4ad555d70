"""Queue callbacks: the offer, the request, and when a callback's turn comes. Pure: no I/O.

The caller presses the offer key in a queue whose ``context=redial-queue-callback``:
app_queue sends them to that context (they leave the line; QueueCallerLeave), the
dialplan asks the FastAGI for an offer (:meth:`QueueCallbacks.offer`), then, with the
caller's choice, for the callback itself (:meth:`QueueCallbacks.request`). The request
is stored before the dialplan plays its confirmation.

Fairness, by join time (see README, "Queue callbacks"): a callback keeps the time its
caller joined the queue. It goes when no live caller who joined earlier still waits
in that queue, and before any who joined later: as soon as a member is free, the
daemon reserves them for it (app_queue looks for a free member for its callers about
once a second; the daemon reacts to the member's event within milliseconds).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from redial.ami import events as ev
from redial.ami.actions import OriginateRequest
from redial.config import Settings
from redial.core.agents import AgentBoard, Availability
from redial.core.commands import RecordRequest
from redial.core.jobs import CallbackJob, JobKind, Outcome, tried_again, unreached
from redial.core.open_jobs import OpenJobs
from redial.core.queue_line import QueueLine
from redial.policy.attempt import Defer, Ring, WaitForAgent
from redial.policy.hours import is_open, next_open
from redial.policy.numbers import NumberCheck
from redial.service.metrics import Metrics

# The deadline a callback waiting for its turn is given: it has none of its own. It is
# planned again at every change of the lines, the members or the followed calls, and at
# least every attempts.AGENT_RECHECK (1 s) as a job waiting for its agent is.
TURN_RECHECK = 3600.0
# The customer is on a call with the PBX (the request's own call, still hearing its
# confirmation): look again this much later, or as soon as the calls change.
ON_CALL_RECHECK = 5.0
# When hours are set but no opening is found within two weeks.
_CLOSED_RECHECK = 3600.0


@dataclass(frozen=True, slots=True)
class CallbackOffer:
    """What the dialplan is told after the offer key: whether a callback can be had, and the wait."""

    offered: bool
    # offered, disabled, unknown_caller, closed, closes_first, queue_full.
    reason: str
    detail: str
    queue: str = ""
    joined_at: float = 0.0
    # The caller's place among the live callers (1 is next): where they go back when not offered.
    position: int = 0
    minutes: int = 0


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """The caller's choice, from the FastAGI: call back ``number`` (their own, or keyed)."""

    uniqueid: str
    number: str
    keyed: bool
    dialled: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True)
class RequestAnswer:
    """What the dialplan says to the caller: accepted (or merged into their pending one), or why not."""

    # accepted, merged, number_refused, not_offered, failed.
    result: str
    detail: str
    minutes: int = 0
    job_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.result in ("accepted", "merged")


def minutes_of(seconds: float) -> int:
    """What the caller hears: whole minutes, at least one."""
    return max(1, math.ceil(seconds / 60))


class QueueCallbacks:
    """Offers and requests of queue callbacks, and the plan of a due one."""

    def __init__(
        self,
        settings: Settings,
        line: QueueLine,
        board: AgentBoard,
        jobs: OpenJobs,
        number_key: Callable[[str], str],
        check_number: Callable[[str, str], NumberCheck],
        on_live_call: Callable[[str], bool],
        metrics: Metrics,
        agents_on_calls: Callable[[], set[str]] = set,
        calls_ended: Callable[[], int] = lambda: 0,
    ) -> None:
        self.settings = settings
        self._metrics = metrics
        self._line, self._board, self._jobs = line, board, jobs
        self._number_key = number_key
        # (number, queue) -> the number rules' verdict, with the do-not-call list.
        self._check_number = check_number
        # Is the customer of this key on a call with the PBX now?
        self._on_live_call = on_live_call
        # Members on a queue call whose end is not decided yet: never taken for a callback.
        self.agents_on_calls = agents_on_calls
        # How many followed calls have ended so far: one ending frees the agent it held.
        self._calls_ended = calls_ended

    @property
    def line_version(self) -> int:
        """Grows with every change of the lines or end of a followed call: a waiting callback is planned again."""
        return self._line.version + self._calls_ended()

    # ---- the offer --------------------------------------------------------------------
    def pending_in(self, queue: str) -> list[CallbackJob]:
        return [j for j in self._jobs if j.kind is JobKind.QUEUE_CALLBACK and j.queue == queue]

    def wait_for(self, queue: str, joined_at: float, now: float) -> float:
        """Seconds until a caller who joined ``queue`` at ``joined_at`` would reach an agent."""
        reason = self.settings.policy_for(queue).agent.pause_reason
        ahead = self._line.ahead_of(queue, joined_at) + sum(
            1 for j in self.pending_in(queue) if (j.joined_at or 0.0) < joined_at
        )
        views = [self._board.view(m, now, reason) for m in self._board.members_of(queue)]
        staffed = sum(1 for v in views if v.availability not in (Availability.PAUSED, Availability.LOGGED_OFF))
        free = sum(1 for v in views if v.availability is Availability.FREE)
        return self._line.estimate(queue, ahead, free, staffed, self.settings.queue_callback.handle_time)

    def offer(self, uniqueid: str, now: float) -> CallbackOffer:
        """May the caller of ``uniqueid`` (who just pressed the offer key) have a callback?"""
        config = self.settings.queue_callback
        place = self._line.place_of(uniqueid, now)
        if place is None:
            detail = "the daemon did not see this caller in a queue (restarted meanwhile?)"
            return CallbackOffer(False, "unknown_caller", detail)
        queue, joined_at = place.queue, place.joined_at
        position = self._line.ahead_of(queue, joined_at) + 1

        def refused(reason: str, detail: str) -> CallbackOffer:
            return CallbackOffer(False, reason, detail, queue, joined_at, position)

        if not config.enabled:
            return refused("disabled", "queue callbacks are disabled (queue_callback.enabled)")
        pending = len(self.pending_in(queue))
        if pending >= config.max_pending:
            return refused("queue_full", f"{pending} callbacks already wait in {queue} (max_pending)")
        hours = self.settings.policy_for(queue).hours
        opened = is_open(now, hours)
        if not opened.open:
            return refused("closed", opened.detail)
        wait = self.wait_for(queue, joined_at, now)
        # Served before closing: the queue must still be open when its turn comes (and a while after).
        served_by = now + wait + 60.0
        if not is_open(served_by, hours).open:
            return refused("closes_first", f"the estimated wait of {minutes_of(wait)} min ends after closing")
        detail = f"{position - 1} callers ahead; about {minutes_of(wait)} min"
        return CallbackOffer(True, "offered", detail, queue, joined_at, position, minutes_of(wait))

    # ---- the request ------------------------------------------------------------------
    def request(self, request: CallbackRequest, now: float) -> RequestAnswer | RecordRequest:
        """The caller's choice: refused, merged into their pending callback, or a new one to store."""
        offer = self.offer(request.uniqueid, now)
        if not offer.offered:
            return RequestAnswer("not_offered", offer.detail)
        check = self._check_number(request.number, offer.queue)
        if not check.allowed:
            return RequestAnswer("number_refused", check.detail)
        key = self._number_key(request.number) or check.e164
        for job in self.pending_in(offer.queue):
            if self._number_key(job.customer_number) != key:
                continue
            # One open callback per number and queue (also one being rung now: never a second dial).
            if job.joined_at is not None and job.joined_at > offer.joined_at:
                break  # this caller's place is older: the store merges and keeps it
            minutes = minutes_of(self.wait_for(offer.queue, job.joined_at or offer.joined_at, now))
            return RequestAnswer("merged", f"merged into callback {job.id}", minutes, job.id)
        prefix = self.settings.originate.channel_id_prefix
        return RecordRequest(
            queue=offer.queue,
            uniqueid=request.uniqueid,
            number=request.number,
            number_key=key,
            dial_number=check.dial_number,
            dialled=request.dialled,
            channel=request.channel,
            joined_at=offer.joined_at,
            due_at=now,
            channel_prefix=prefix,
            minutes=offer.minutes,
            keyed=request.keyed,
        )

    # ---- the turn ---------------------------------------------------------------------
    def plan(self, job: CallbackJob, now: float, reserved: set[str]) -> Ring | WaitForAgent | Defer:
        """What a due callback does now: wait its turn, wait for a free member, or ring one."""
        queue = job.queue
        policy = self.settings.policy_for(queue)
        opened = is_open(now, policy.hours)
        if not opened.open:
            until = next_open(now, policy.hours) or now + _CLOSED_RECHECK
            return Defer(until, f"{opened.detail}: the callback waits for the next opening")
        if self._on_live_call(self._number_key(job.customer_number)):
            return Defer(now + ON_CALL_RECHECK, "the customer is on a call with the PBX; never dialled meanwhile")
        joined_at = job.joined_at if job.joined_at is not None else job.dropped_at
        ahead = self._line.ahead_of(queue, joined_at)
        if ahead:
            return WaitForAgent(now + TURN_RECHECK, f"{ahead} callers who joined {queue} earlier still wait")
        passed = set(job.passed_over)
        free = self._board.free_members(queue, now, policy.agent.pause_reason, exclude=reserved | passed)
        if not free:
            return WaitForAgent(now + TURN_RECHECK, f"its turn in {queue}: waiting for a free member")
        return Ring(free[0], False, f"its turn in {queue}: ringing {free[0]}, free longest")

    # ---- what the PBX shows ---------------------------------------------------------
    def observe(self, event: ev.AmiEvent, now: float) -> str | None:
        """Follow the queues' lines; the number key of a caller an agent just answered, if any."""
        if isinstance(event, ev.QueueCallerJoined):
            self._line.joined(event, now, self._number_key(event.caller_number))
        elif isinstance(event, ev.QueueCallerLeft):
            self._line.left(event, now)
        elif isinstance(event, ev.AgentCompleted):
            self._line.handled(event)
        elif isinstance(event, ev.AgentConnected):
            place = self._line.place_of(event.ref.uniqueid, now)
            return place.number_key if place is not None and place.number_key else None
        return None

    def count_pending(self, queue: str) -> None:
        self._metrics.queue_callbacks_pending.labels(queue).set(len(self.pending_in(queue)))

    # ---- the call and what follows it -------------------------------------------------
    def originate_request(self, request: OriginateRequest, job: CallbackJob, now: float) -> OriginateRequest:
        """A redial's Originate made a queue callback's: "CALLBACK" on the agent's phone, the
        whisper with the minutes since the request, the greeting and the customer's "press 1"."""
        config = self.settings.queue_callback
        sounds = config.sounds
        return dataclasses.replace(
            request,
            caller_id_name=config.agent_caller_id_name,
            agent_prompt=sounds.agent_before,
            agent_after=sounds.agent_after,
            waited_minutes=int(max(0.0, now - job.dropped_at) // 60),
            customer_greeting=sounds.customer_greeting,
            customer_press=sounds.customer_press,
            press_timeout=config.press_timeout,
            agent_name="",
            callback=True,
        )

    def retry(self, job: CallbackJob, ended: CallbackJob, now: float) -> CallbackJob | None:
        """Another attempt after the spacing when the customer was not reached; None when none is left."""
        config = self.settings.queue_callback
        outcome = ended.outcome
        if outcome not in _RETRIED or job.attempt >= config.attempts:
            return None
        detail = f"attempt {job.attempt + 1} of {config.attempts} in {config.spacing:g} s after {outcome.value}"
        return tried_again(job, detail, now + config.spacing)

    def final(self, ended: CallbackJob) -> CallbackJob:
        """The last attempt's end: a customer never reached is ``unreached``, kept in sight."""
        return ended if ended.outcome in _KEPT else unreached(ended)

    def count_end(self, ended: CallbackJob, now: float) -> None:
        outcome = ended.outcome
        if outcome is Outcome.CONNECTED:
            self._metrics.queue_callbacks.labels(ended.queue, "reached").inc()
            self._metrics.request_to_callback.observe(max(0.0, now - ended.dropped_at))
        elif outcome is Outcome.UNREACHED:
            self._metrics.queue_callbacks.labels(ended.queue, "unreached").inc()
        elif outcome in (Outcome.CUSTOMER_CALLED_BACK, Outcome.CANCELLED, Outcome.CUSTOMER_ON_CALL):
            self._metrics.queue_callbacks.labels(ended.queue, "cancelled").inc()
        self.count_pending(ended.queue)  # a retried callback is still open; an ended one is gone


# Attempts that did not reach the customer, whose callback is tried again after the spacing.
# Never FAILED: an outcome that was not seen may have reached them.
_RETRIED = frozenset({Outcome.CUSTOMER_NO_ANSWER, Outcome.CUSTOMER_BUSY, Outcome.CUSTOMER_NOT_CONFIRMED})
# Ends that are no failure to reach the customer.
_KEPT = frozenset({Outcome.CONNECTED, Outcome.CUSTOMER_CALLED_BACK, Outcome.CUSTOMER_ON_CALL, Outcome.CANCELLED})
