"""One redial's life as an explicit state machine. Pure: events and time in, next state out.

    WAITING ──due──▶ ORIGINATING ──agent answers──▶ AGENT_ANSWERED ──customer answers──▶ CUSTOMER_ANSWERED
       │                  │                               │                                  │
       │ customer called  │ agent no answer / refused     │ customer no answer / busy        │ both legs bridged
       ▼                  ▼                               ▼                                  ▼
      DONE ◀──────────────┴───────────────────────────────┴──────────────────────────────── DONE (connected)

The daemon writes each new state to the store *before* acting on it, so a
restarted daemon knows what was pending and never repeats an Originate.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from redial.ami import events as ev


class RedialState(enum.Enum):
    WAITING = "waiting"  # the callback window, a retry's spacing, or the outage guard's turn
    WAITING_AGENT = "waiting_agent"  # the agent is busy; wait for them until agent_deadline
    ORIGINATING = "originating"
    AGENT_ANSWERED = "agent_answered"
    CUSTOMER_ANSWERED = "customer_answered"
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


@dataclass(frozen=True, slots=True)
class Redial:
    """A redial and the facts of the dropped call it recovers."""

    id: int
    call_id: int
    linkedid: str
    original_uniqueid: str
    customer_number: str
    dialled: str
    queue: str
    agent_interface: str
    agent_member: str
    trunk: str
    state: RedialState
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
    # Interfaces not to ring for this redial: the agent whose own leg failed, and
    # members whose phones did not answer or could not be reached.
    passed_over: tuple[str, ...] = ()
    # Originates sent so far (each gets its own ChannelId).
    rings: int = 0

    @property
    def done(self) -> bool:
        return self.state is RedialState.DONE

    def moved(self, state: RedialState, detail: str, **changes: object) -> Redial:
        return dataclasses.replace(self, state=state, detail=detail, **changes)  # type: ignore[arg-type]

    def finished(self, outcome: Outcome, detail: str) -> Redial:
        return dataclasses.replace(self, state=RedialState.DONE, outcome=outcome, detail=detail)


# OriginateResponse Reason codes (asterisk-facts.md) for an Originate that failed.
_AGENT_REASONS = {
    # Asterisk 22 reports a busy agent phone (486) as reason 0; its DialEnd BUSY usually comes first.
    0: (Outcome.AGENT_UNREACHABLE, "the agent's phone could not be reached"),
    1: (Outcome.AGENT_NO_ANSWER, "the agent's phone hung up"),
    3: (Outcome.AGENT_NO_ANSWER, "the agent's phone rang without answer"),
    5: (Outcome.AGENT_NO_ANSWER, "the agent's phone was busy"),
    8: (Outcome.AGENT_UNREACHABLE, "congestion reaching the agent's phone"),
}

_AGENT_DIAL_STATUS = {
    "NOANSWER": (Outcome.AGENT_NO_ANSWER, "the agent's phone rang without answer"),
    "BUSY": (Outcome.AGENT_NO_ANSWER, "the agent's phone was busy"),
    "CANCEL": (Outcome.AGENT_NO_ANSWER, "the agent's phone stopped ringing"),
    "CHANUNAVAIL": (Outcome.AGENT_UNREACHABLE, "the agent's phone is unavailable"),
    "CONGESTION": (Outcome.AGENT_UNREACHABLE, "congestion reaching the agent's phone"),
}

# Attempts that never reached the customer because the agent's phone did not take the call:
# another member takes over at once, without counting against the customer's attempts.
AGENT_OUTCOMES = frozenset({Outcome.AGENT_NO_ANSWER, Outcome.AGENT_UNREACHABLE})

_CUSTOMER_DIAL_STATUS = {
    "NOANSWER": (Outcome.CUSTOMER_NO_ANSWER, "the customer did not answer"),
    "BUSY": (Outcome.CUSTOMER_BUSY, "the customer was busy"),
    "CANCEL": (Outcome.FAILED, "the agent hung up while the customer's phone rang"),
    "CONGESTION": (Outcome.FAILED, "congestion reaching the customer"),
    "CHANUNAVAIL": (Outcome.FAILED, "the customer's line was unavailable"),
}

_OPEN_AFTER_ORIGINATE = (RedialState.ORIGINATING, RedialState.AGENT_ANSWERED, RedialState.CUSTOMER_ANSWERED)


def concerns(redial: Redial, event: ev.AmiEvent) -> bool:
    """True when ``event`` belongs to this redial's channels (all share its ChannelId as Linkedid)."""
    cid = redial.channel_id
    if isinstance(event, ev.OriginateResult):
        return event.uniqueid == cid
    if isinstance(event, ev.DialEnded):
        return event.dest.linkedid == cid or event.dest.uniqueid == cid
    if isinstance(event, (ev.BridgeEntered, ev.ChannelHungUp)):
        return event.ref.linkedid == cid
    return False


def advance(redial: Redial, event: ev.AmiEvent) -> Redial | None:
    """The redial's next state after ``event``, or ``None`` when nothing changes.

    Cross-topic ordering in AMI is "usually", so the agent's answer is accepted
    from either the OriginateResponse or the first leg's DialEnd, whichever comes first.
    """
    if redial.state not in _OPEN_AFTER_ORIGINATE or not concerns(redial, event):
        return None
    state = redial.state
    cid = redial.channel_id
    if isinstance(event, ev.OriginateResult):
        if event.success:
            if state is RedialState.ORIGINATING:
                return redial.moved(RedialState.AGENT_ANSWERED, "the agent answered")
            return None
        if state is not RedialState.ORIGINATING:
            # The agent had answered (DialEnd came first): the call ended before the customer did.
            return redial.finished(Outcome.FAILED, f"the redial call failed (OriginateResponse reason {event.reason})")
        outcome, detail = _AGENT_REASONS.get(event.reason or 0, (Outcome.AGENT_UNREACHABLE, "the Originate failed"))
        return redial.finished(outcome, f"{detail} (OriginateResponse reason {event.reason})")
    if isinstance(event, ev.DialEnded):
        if event.dest.uniqueid == cid:  # the first leg: ringing the agent
            if event.status == "ANSWER":
                if state is RedialState.ORIGINATING:
                    return redial.moved(RedialState.AGENT_ANSWERED, "the agent answered")
                return None
            outcome, detail = _AGENT_DIAL_STATUS.get(
                event.status, (Outcome.AGENT_UNREACHABLE, "the agent could not be reached")
            )
            return redial.finished(outcome, f"{detail} (DialStatus {event.status})")
        # The second leg: the agent's channel dialling the customer. Dials inside an
        # outbound route (originate.customer_route: a trunk failing over to the next) are
        # not the customer's answer; the route's own Local channel answering is.
        if event.caller is not None and event.caller.uniqueid != cid:
            return None
        if event.status == "ANSWER":
            return redial.moved(RedialState.CUSTOMER_ANSWERED, "the customer answered")
        outcome, detail = _CUSTOMER_DIAL_STATUS.get(event.status, (Outcome.FAILED, "the customer could not be reached"))
        return redial.finished(outcome, f"{detail} (DialStatus {event.status})")
    if isinstance(event, ev.BridgeEntered):
        if state is not RedialState.CUSTOMER_ANSWERED:
            return None
        legs = redial.bridged_legs + 1
        if legs >= 2:
            return dataclasses.replace(
                redial.finished(Outcome.CONNECTED, "agent and customer are talking"), bridged_legs=legs
            )
        return dataclasses.replace(redial, bridged_legs=legs)
    if isinstance(event, ev.ChannelHungUp) and event.ref.uniqueid == cid:
        if state is RedialState.AGENT_ANSWERED:
            return redial.finished(Outcome.FAILED, "the agent hung up before the customer answered")
        if state is RedialState.CUSTOMER_ANSWERED:
            return redial.finished(Outcome.FAILED, "the call ended before agent and customer were bridged")
        # ORIGINATING: the OriginateResponse that follows says why.
    return None


def expire(redial: Redial, now: float, outcome_timeout: float) -> Redial | None:
    """Close a redial whose outcome was never seen (events lost while the link was down)."""
    if redial.state not in _OPEN_AFTER_ORIGINATE or redial.originated_at is None:
        return None
    if now < redial.originated_at + outcome_timeout:
        return None
    return redial.finished(Outcome.FAILED, f"no outcome seen within {outcome_timeout:g} s of the Originate")


def channel_id_for(prefix: str, redial_id: int, ring: int, linkedid: str) -> str:
    """The ChannelId of one Originate (``ring`` counts them): unique per Originate, the same if looked up again."""
    return f"{prefix}-{redial_id}-{ring}-{linkedid}"
