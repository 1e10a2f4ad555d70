"""What to do about an ended call. Pure: the daemon only carries decisions out."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from redial.ami.actions import INTERFACE
from redial.config import PolicySettings
from redial.core.tracker import EndedCall
from redial.policy.classify import Classification, EndKind
from redial.policy.hours import OpenCheck
from redial.policy.numbers import NumberCheck


class Verdict(enum.Enum):
    REDIAL = "redial"
    SKIP = "skip"


class Reason(enum.Enum):
    """Why: a stable code for statistics; the human text travels beside it."""

    ABNORMAL_END = "abnormal_end"
    NORMAL_END = "normal_end"
    TRANSFERRED = "transferred"
    NOT_ANSWERED = "not_answered"
    NOT_A_QUEUE_CALL = "not_a_queue_call"
    QUEUE_OUT_OF_SCOPE = "queue_out_of_scope"
    DID_OUT_OF_SCOPE = "did_out_of_scope"
    TRUNK_OUT_OF_SCOPE = "trunk_out_of_scope"
    TALK_TOO_SHORT = "talk_too_short"
    TALK_TOO_LONG = "talk_too_long"
    NUMBER_WITHHELD = "number_withheld"
    NUMBER_MALFORMED = "number_malformed"
    # Never dialled, whatever the number rules allow: a spoofed caller ID must not reach them.
    EMERGENCY_NUMBER = "emergency_number"
    SHORT_NUMBER = "short_number"
    NUMBER_REGION_NOT_ALLOWED = "number_region_not_allowed"
    NUMBER_TYPE_NOT_ALLOWED = "number_type_not_allowed"
    DO_NOT_CALL = "do_not_call"
    DAILY_CAP = "daily_cap"
    HOURLY_CAP = "hourly_cap"
    OUTSIDE_HOURS = "outside_hours"
    NO_AGENT_INTERFACE = "no_agent_interface"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: Reason
    detail: str
    # When to originate (epoch seconds), for a REDIAL.
    due_at: float | None = None
    # What REDIAL_NUMBER will carry, for a REDIAL.
    dial_number: str = ""


_SKIP_FOR_KIND = {
    EndKind.NOT_QUEUE_CALL: Reason.NOT_A_QUEUE_CALL,
    EndKind.UNANSWERED: Reason.NOT_ANSWERED,
    EndKind.TRANSFERRED: Reason.TRANSFERRED,
    EndKind.NORMAL: Reason.NORMAL_END,
}


_NUMBER_REASONS = {
    "withheld": Reason.NUMBER_WITHHELD,
    "malformed": Reason.NUMBER_MALFORMED,
    "emergency_number": Reason.EMERGENCY_NUMBER,
    "short_number": Reason.SHORT_NUMBER,
    "region_not_allowed": Reason.NUMBER_REGION_NOT_ALLOWED,
    "type_not_allowed": Reason.NUMBER_TYPE_NOT_ALLOWED,
    "do_not_call": Reason.DO_NOT_CALL,
}


def talk_seconds(call: EndedCall) -> float:
    """How long agent and customer talked: AgentComplete's TalkTime, else answer to end."""
    if call.talk_time is not None:
        return float(call.talk_time)
    if call.answered_at is None:
        return 0.0
    return max(0.0, call.ended_at - call.answered_at)


def skip_by_kind(classification: Classification) -> Decision | None:
    """The skip for a call that is no drop at all (a normal end, a transfer...), else None.

    :func:`decide` begins with it. Called first on its own, it spares the number,
    hours and daily-cap lookups that only a drop needs.
    """
    reason = _SKIP_FOR_KIND.get(classification.kind)
    return None if reason is None else Decision(Verdict.SKIP, reason, classification.reason)


def decide(
    call: EndedCall,
    classification: Classification,
    settings: PolicySettings,
    *,
    number: NumberCheck,
    hours: OpenCheck,
    redials_today: int,
    redials_this_hour: int = 0,
) -> Decision:
    """Redial an abnormal end of an in-scope queue call to an allowed number, after the window.

    ``number`` and ``hours`` are the pure checks of the number rules and business
    hours for this call; ``redials_today`` counts redials to this number today,
    ``redials_this_hour`` all redials in the last 60 minutes.
    """
    skipped = skip_by_kind(classification)
    if skipped is not None:
        return skipped
    if settings.queues is not None and call.queue not in settings.queues:
        return Decision(Verdict.SKIP, Reason.QUEUE_OUT_OF_SCOPE, f"queue {call.queue!r} is not protected")
    if settings.dids is not None and call.dialled not in settings.dids:
        return Decision(Verdict.SKIP, Reason.DID_OUT_OF_SCOPE, f"dialled number {call.dialled!r} is not protected")
    if settings.trunks is not None and call.trunk not in settings.trunks:
        return Decision(Verdict.SKIP, Reason.TRUNK_OUT_OF_SCOPE, f"trunk {call.trunk!r} is not protected")
    talked = talk_seconds(call)
    if talked < settings.min_talk_time:
        return Decision(
            Verdict.SKIP, Reason.TALK_TOO_SHORT, f"talked {talked:.0f} s, less than {settings.min_talk_time:g} s"
        )
    if settings.max_talk_time is not None and talked > settings.max_talk_time:
        return Decision(
            Verdict.SKIP, Reason.TALK_TOO_LONG, f"talked {talked:.0f} s, more than {settings.max_talk_time:g} s"
        )
    if not number.allowed:
        return Decision(Verdict.SKIP, _NUMBER_REASONS.get(number.reason, Reason.NUMBER_MALFORMED), number.detail)
    cap = settings.numbers.max_redials_per_day
    if cap and redials_today >= cap:
        return Decision(
            Verdict.SKIP, Reason.DAILY_CAP, f"{number.e164 or call.customer_number} had {redials_today} redials today"
        )
    hourly = settings.max_redials_per_hour
    if hourly and redials_this_hour >= hourly:
        return Decision(
            Verdict.SKIP, Reason.HOURLY_CAP, f"{redials_this_hour} redials in the last hour, the most allowed"
        )
    if not hours.open:
        return Decision(Verdict.SKIP, Reason.OUTSIDE_HOURS, hours.detail)
    if not call.agent_interface or not INTERFACE.fullmatch(call.agent_interface):
        return Decision(
            Verdict.SKIP, Reason.NO_AGENT_INTERFACE, f"agent interface {call.agent_interface!r} cannot be rung"
        )
    return Decision(
        Verdict.REDIAL,
        Reason.ABNORMAL_END,
        classification.reason,
        due_at=call.ended_at + settings.callback_window,
        dial_number=number.dial_number,
    )
