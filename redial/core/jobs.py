"""Callback jobs and every transition they may make, in one table. Pure: no I/O.

A job is one promise to get a customer and an agent talking: today a drop redial;
a queue callback and a promised callback are further kinds on the same table.

    WAITING ──RING──▶ ORIGINATING ──AGENT_ANSWERED──▶ AGENT_ANSWERED ──CUSTOMER_ANSWERED──▶ CUSTOMER_ANSWERED
     ▲  │ ▲              │  │                            │                                    │
     │  │ └──NOT_SENT────┘  └──NEXT_MEMBER / RETRY ──▶ WAITING                             CONNECTED
     │  ▼                   └──ATTEMPT_ENDED / EXPIRED ──▶ DONE ◀──────────────────────────────┘
    WAITING_AGENT ──RING──▶ ORIGINATING
       WAITING and WAITING_AGENT ──GIVE_UP / CANCEL / CUSTOMER_REACHED_US──▶ DONE

``TRANSITIONS`` is the whole machine: :func:`move` refuses anything it does not list,
so a job can never, say, ring again from ORIGINATING or leave DONE. The engine writes
each new state to the store before it acts on it (reserving the agent, originating).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from redial.exceptions import InvalidTransition


class JobKind(enum.Enum):
    # A queue call that ended abnormally: ring the same agent first, then the customer.
    DROP_REDIAL = "drop_redial"
    # A caller waiting in a queue asked to be called back: any free member of the queue,
    # at the turn the caller would have had, then the customer, who must press 1.
    QUEUE_CALLBACK = "queue_callback"
    # An agent's (or the queue's) promise to call a customer back at a time: the owner
    # first, another member when they cannot; a retry ladder; fulfilled only after a
    # conversation of policy.promise.min_talk seconds.
    PROMISED_CALLBACK = "promised_callback"


class JobState(enum.Enum):
    WAITING = "waiting"  # the callback window, a retry's spacing, or the outage guard's turn
    WAITING_AGENT = "waiting_agent"  # the agent is busy; wait for them until agent_deadline
    ORIGINATING = "originating"
    AGENT_ANSWERED = "agent_answered"
    CUSTOMER_ANSWERED = "customer_answered"
    # A promised callback's agent and customer are bridged: kept once they talked long enough.
    TALKING = "talking"
    DONE = "done"


class Outcome(enum.Enum):
    CONNECTED = "connected"
    AGENT_NO_ANSWER = "agent_no_answer"
    CUSTOMER_NO_ANSWER = "customer_no_answer"
    CUSTOMER_BUSY = "customer_busy"
    FAILED = "failed"
    CUSTOMER_CALLED_BACK = "customer_called_back"
    # The customer was on a live call with the PBX (an agent had dialled them, say).
    CUSTOMER_ON_CALL = "customer_on_call"
    # The agent's phone gave an error (unregistered, congestion, a dead softphone).
    AGENT_UNREACHABLE = "agent_unreachable"
    # An operator cancelled it (redial cancel).
    CANCELLED = "cancelled"
    OUTSIDE_HOURS = "outside_hours"
    # No agent could take it: recorded for a person to call the customer back.
    CALLBACK_REQUESTED = "callback_requested"
    # A queue callback's customer answered but never pressed 1 (a voicemail, an answering machine).
    CUSTOMER_NOT_CONFIRMED = "customer_not_confirmed"
    # A queue callback whose every attempt failed to reach the customer: kept in sight, never a quiet end.
    UNREACHED = "unreached"
    # A promised callback's conversation ended before policy.promise.min_talk seconds.
    TALK_TOO_SHORT = "talk_too_short"


class Trigger(enum.Enum):
    """Why a job moves; with its current state, the key of :data:`TRANSITIONS`."""

    DEFER = "defer"  # not yet: the outage guard's turn, a link that is down
    WAIT_AGENT = "wait_agent"  # the agent (or every member) is busy
    RING = "ring"  # reserve a member and originate (committed before the Originate is sent)
    NOT_SENT = "not_sent"  # the Originate never left (the link was down): due again
    AGENT_ANSWERED = "agent_answered"
    CUSTOMER_ANSWERED = "customer_answered"
    LEG_BRIDGED = "leg_bridged"  # one of the two legs entered the bridge
    CONNECTED = "connected"  # both legs bridged: agent and customer are talking
    TALKING = "talking"  # a promise's legs bridged: kept only if the talk lasts (policy.promise.min_talk)
    ATTEMPT_ENDED = "attempt_ended"  # the attempt failed; its outcome says how
    EXPIRED = "expired"  # no outcome seen in time, or its channels were gone after a reconnect
    NEXT_MEMBER = "next_member"  # the rung member's phone did not take it: another member, at once
    RETRY = "retry"  # the customer was not reached: another attempt after the spacing
    GIVE_UP = "give_up"  # outside hours, or nobody can take it (a callback is requested)
    CANCEL = "cancel"  # an operator's cancel
    CUSTOMER_REACHED_US = "customer_reached_us"  # the customer called in again, or is on a call


_PENDING = (JobState.WAITING, JobState.WAITING_AGENT)
_IN_FLIGHT = (JobState.ORIGINATING, JobState.AGENT_ANSWERED, JobState.CUSTOMER_ANSWERED, JobState.TALKING)
PENDING = frozenset(_PENDING)
IN_FLIGHT = frozenset(_IN_FLIGHT)


def _rows() -> dict[tuple[JobState, Trigger], JobState]:
    s, t = JobState, Trigger
    table: dict[tuple[JobState, Trigger], JobState] = {}
    for pending in _PENDING:
        table[pending, t.DEFER] = s.WAITING
        table[pending, t.WAIT_AGENT] = s.WAITING_AGENT
        table[pending, t.RING] = s.ORIGINATING
        table[pending, t.GIVE_UP] = s.DONE
        table[pending, t.CANCEL] = s.DONE
        table[pending, t.CUSTOMER_REACHED_US] = s.DONE
        table[pending, t.RETRY] = s.WAITING  # a give-up the retry policy names (outside hours)
    table[s.ORIGINATING, t.NOT_SENT] = s.WAITING
    table[s.ORIGINATING, t.AGENT_ANSWERED] = s.AGENT_ANSWERED
    # Cross-topic AMI order is "usually": the customer's answer may beat the agent's.
    table[s.ORIGINATING, t.CUSTOMER_ANSWERED] = s.CUSTOMER_ANSWERED
    table[s.AGENT_ANSWERED, t.CUSTOMER_ANSWERED] = s.CUSTOMER_ANSWERED
    table[s.CUSTOMER_ANSWERED, t.LEG_BRIDGED] = s.CUSTOMER_ANSWERED
    table[s.CUSTOMER_ANSWERED, t.CONNECTED] = s.DONE
    table[s.CUSTOMER_ANSWERED, t.TALKING] = s.TALKING
    table[s.TALKING, t.CONNECTED] = s.DONE
    for flying in _IN_FLIGHT:
        table[flying, t.ATTEMPT_ENDED] = s.DONE
        table[flying, t.EXPIRED] = s.DONE
        table[flying, t.NEXT_MEMBER] = s.WAITING
        table[flying, t.RETRY] = s.WAITING
    return table


TRANSITIONS: Mapping[tuple[JobState, Trigger], JobState] = MappingProxyType(_rows())


@dataclass(frozen=True, slots=True)
class CallbackJob:
    """A callback job and the facts of the call it follows up."""

    id: int
    call_id: int
    linkedid: str
    original_uniqueid: str
    customer_number: str
    dialled: str
    queue: str
    # The agent the job belongs to: rung first (for a drop, the one who had the call).
    agent_interface: str
    agent_member: str
    trunk: str
    state: JobState
    due_at: float
    channel_id: str
    originated_at: float | None = None
    outcome: Outcome | None = None
    detail: str = ""
    bridged_legs: int = 0
    attempt: int = 1
    # What REDIAL_NUMBER carries (the number rules' dial format).
    dial_number: str = ""
    # The interface being rung: the agent's own, or a fallback member's.
    ring_interface: str = ""
    # Until when to wait for a busy agent.
    agent_deadline: float | None = None
    # The interface the daemon paused to reserve it; released when the attempt ends.
    paused_interface: str | None = None
    # When the call dropped (epoch seconds).
    dropped_at: float = 0.0
    # Interfaces not to ring for this job: the agent whose own leg failed, and
    # members whose phones did not answer or could not be reached.
    passed_over: tuple[str, ...] = ()
    # Originates sent so far (each gets its own ChannelId).
    rings: int = 0
    kind: JobKind = JobKind.DROP_REDIAL
    # A queue callback's place: when its caller joined the queue (None for a drop redial).
    joined_at: float | None = None
    # A promised callback: the note the agent left, the time promised (due_at moves with
    # retries and hours), who made it, when agent and customer were bridged, and whether
    # it was kept later than policy.promise.late_after.
    note: str = ""
    promised_at: float | None = None
    made_by: str = ""
    connected_at: float | None = None
    late: bool = False
    # Bumped by every stored change: a write expecting another revision lost a race.
    revision: int = 0

    @property
    def done(self) -> bool:
        return self.state is JobState.DONE

    def changed(self, **changes: object) -> CallbackJob:
        """The same state with other facts (a cleared reservation, a counted leg)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """An operator's cancel, answered: whether it cancelled, and why not in words."""

    cancelled: bool
    text: str


def move(
    job: CallbackJob, trigger: Trigger, detail: str, outcome: Outcome | None = None, **changes: object
) -> CallbackJob:
    """``job`` after ``trigger``, as :data:`TRANSITIONS` allows; anything else raises InvalidTransition.

    A move to DONE needs its outcome; a move out of an attempt clears it.
    """
    target = TRANSITIONS.get((job.state, trigger))
    if target is None:
        raise InvalidTransition(f"job {job.id} ({job.kind.value}): {trigger.value} is not allowed in {job.state.value}")
    if (target is JobState.DONE) != (outcome is not None):
        raise InvalidTransition(f"job {job.id}: {trigger.value} to {target.value} with outcome {outcome}")
    return dataclasses.replace(job, state=target, detail=detail, outcome=outcome, **changes)  # type: ignore[arg-type]


def tried_again(job: CallbackJob, detail: str, due_at: float) -> CallbackJob:
    """``job``'s next attempt on its customer at ``due_at``: a fresh start (every member again, owner first)."""
    return move(
        job,
        Trigger.RETRY,
        detail,
        due_at=due_at,
        originated_at=None,
        attempt=job.attempt + 1,
        agent_deadline=None,
        ring_interface="",
        bridged_legs=0,
        passed_over=(),
        connected_at=None,
    )


def unreached(ended: CallbackJob) -> CallbackJob:
    """The last attempt of a queue callback or a promise did not reach its customer: ``unreached``, saying how."""
    last = ended.outcome.value if ended.outcome else "unknown"
    detail = f"not reached after {ended.attempt} attempt(s); the last: {ended.detail} ({last})"
    return ended.changed(outcome=Outcome.UNREACHED, detail=detail)


def channel_id_for(prefix: str, job_id: int, ring: int, linkedid: str) -> str:
    """The ChannelId of one Originate (``ring`` counts them): unique per Originate, the same if looked up again."""
    return f"{prefix}-{job_id}-{ring}-{linkedid}"
