"""How an attempt's AMI events move its job (see ``jobs.TRANSITIONS``). Pure: events in, the moved job out."""

from __future__ import annotations

from redial.ami import events as ev
from redial.core.jobs import IN_FLIGHT, CallbackJob, JobKind, JobState, Outcome, Trigger, move

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
    # A queue callback's customer answered but never pressed 1: [redial-greeting] ended their
    # leg with GOSUB_RESULT=CONTINUE (app_dial reports no ANSWER before the gosub returns).
    "CONTINUE": (Outcome.CUSTOMER_NOT_CONFIRMED, "the customer answered but did not press 1 to be connected"),
}


def concerns(job: CallbackJob, event: ev.AmiEvent) -> bool:
    """True when ``event`` belongs to this job's channels (all share its ChannelId as Linkedid)."""
    cid = job.channel_id
    if isinstance(event, ev.OriginateResult):
        return event.uniqueid == cid
    if isinstance(event, ev.DialEnded):
        return event.dest.linkedid == cid or event.dest.uniqueid == cid
    if isinstance(event, (ev.BridgeEntered, ev.ChannelHungUp)):
        return event.ref.linkedid == cid
    return False


def advance(job: CallbackJob, event: ev.AmiEvent, now: float = 0.0, min_talk: float = 0.0) -> CallbackJob | None:
    """The job's next state after ``event``, or ``None`` when nothing changes.

    Cross-topic ordering in AMI is "usually", so the agent's answer is accepted
    from either the OriginateResponse or the first leg's DialEnd, whichever comes first.
    A promised callback is kept only once its conversation lasted ``min_talk`` seconds.
    """
    if job.state not in IN_FLIGHT or not concerns(job, event):
        return None
    state = job.state
    if state is JobState.TALKING:
        return _talk_ended(job, event, now, min_talk)
    cid = job.channel_id
    if isinstance(event, ev.OriginateResult):
        if event.success:
            if state is JobState.ORIGINATING:
                return move(job, Trigger.AGENT_ANSWERED, "the agent answered")
            return None
        if state is not JobState.ORIGINATING:
            # The agent had answered (DialEnd came first): the call ended before the customer did.
            return move(
                job,
                Trigger.ATTEMPT_ENDED,
                f"the redial call failed (OriginateResponse reason {event.reason})",
                Outcome.FAILED,
            )
        outcome, detail = _AGENT_REASONS.get(event.reason or 0, (Outcome.AGENT_UNREACHABLE, "the Originate failed"))
        return move(job, Trigger.ATTEMPT_ENDED, f"{detail} (OriginateResponse reason {event.reason})", outcome)
    if isinstance(event, ev.DialEnded):
        if event.dest.uniqueid == cid:  # the first leg: ringing the agent
            if event.status == "ANSWER":
                if state is JobState.ORIGINATING:
                    return move(job, Trigger.AGENT_ANSWERED, "the agent answered")
                return None
            outcome, detail = _AGENT_DIAL_STATUS.get(
                event.status, (Outcome.AGENT_UNREACHABLE, "the agent could not be reached")
            )
            return move(job, Trigger.ATTEMPT_ENDED, f"{detail} (DialStatus {event.status})", outcome)
        # The second leg: the agent's channel dialling the customer. Dials inside an
        # outbound route (originate.customer_route: a trunk failing over to the next) are
        # not the customer's answer; the route's own Local channel answering is.
        if event.caller is not None and event.caller.uniqueid != cid:
            return None
        if event.status == "ANSWER":
            if state is JobState.CUSTOMER_ANSWERED:
                return None
            return move(job, Trigger.CUSTOMER_ANSWERED, "the customer answered")
        outcome, detail = _CUSTOMER_DIAL_STATUS.get(event.status, (Outcome.FAILED, "the customer could not be reached"))
        return move(job, Trigger.ATTEMPT_ENDED, f"{detail} (DialStatus {event.status})", outcome)
    if isinstance(event, ev.BridgeEntered):
        if state is not JobState.CUSTOMER_ANSWERED:
            return None
        legs = job.bridged_legs + 1
        if legs >= 2 and job.kind is JobKind.PROMISED_CALLBACK:
            return move(job, Trigger.TALKING, "agent and customer are talking", bridged_legs=legs, connected_at=now)
        if legs >= 2:
            return move(job, Trigger.CONNECTED, "agent and customer are talking", Outcome.CONNECTED, bridged_legs=legs)
        return move(job, Trigger.LEG_BRIDGED, job.detail, bridged_legs=legs)
    if isinstance(event, ev.ChannelHungUp) and event.ref.uniqueid == cid:
        if state is JobState.AGENT_ANSWERED:
            return move(job, Trigger.ATTEMPT_ENDED, "the agent hung up before the customer answered", Outcome.FAILED)
        if state is JobState.CUSTOMER_ANSWERED:
            if job.kind is JobKind.QUEUE_CALLBACK:
                # The customer is bridged only after pressing 1: a voicemail never does.
                detail = "the customer answered but did not press 1 to be connected"
                return move(job, Trigger.ATTEMPT_ENDED, detail, Outcome.CUSTOMER_NOT_CONFIRMED)
            return move(
                job, Trigger.ATTEMPT_ENDED, "the call ended before agent and customer were bridged", Outcome.FAILED
            )
        # ORIGINATING: the OriginateResponse that follows says why.
    return None


def _talk_ended(job: CallbackJob, event: ev.AmiEvent, now: float, min_talk: float) -> CallbackJob | None:
    """A promise's conversation: the first leg to hang up ends it, kept if it lasted ``min_talk`` s."""
    if not isinstance(event, ev.ChannelHungUp) or event.ref.channel.startswith("Local/"):
        # Local halves (originate.customer_route: a context) go away when Asterisk optimises
        # them out of the bridge: the talk goes on between the agent's and the customer's channels.
        return None
    talked = max(0.0, now - (job.connected_at if job.connected_at is not None else now))
    if talked >= min_talk:
        return move(job, Trigger.CONNECTED, f"kept: agent and customer talked {talked:.0f} s", Outcome.CONNECTED)
    detail = f"agent and customer talked only {talked:.0f} s (policy.promise.min_talk: {min_talk:g} s)"
    return move(job, Trigger.ATTEMPT_ENDED, detail, Outcome.TALK_TOO_SHORT)


def expire(job: CallbackJob, now: float, outcome_timeout: float) -> CallbackJob | None:
    """Close a job whose outcome was never seen (events lost while the link was down).

    A promise's conversation (TALKING) has no such deadline: it ends when a leg hangs up,
    or at the next login when its channels are gone.
    """
    if job.state not in IN_FLIGHT or job.state is JobState.TALKING or job.originated_at is None:
        return None
    if now < job.originated_at + outcome_timeout:
        return None
    return move(job, Trigger.EXPIRED, f"no outcome seen within {outcome_timeout:g} s of the Originate", Outcome.FAILED)
