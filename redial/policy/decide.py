"""What to do about an ended call. Pure: the daemon only carries decisions out."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from redial.ami.actions import INTERFACE, is_dialable
from redial.config import PolicySettings
from redial.policy.classify import Classification, EndKind
from redial.tracker import EndedCall


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
    NUMBER_NOT_DIALABLE = "number_not_dialable"
    NO_AGENT_INTERFACE = "no_agent_interface"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: Reason
    detail: str
    # When to originate (epoch seconds), for a REDIAL.
    due_at: float | None = None


_SKIP_FOR_KIND = {
    EndKind.NOT_QUEUE_CALL: Reason.NOT_A_QUEUE_CALL,
    EndKind.UNANSWERED: Reason.NOT_ANSWERED,
    EndKind.TRANSFERRED: Reason.TRANSFERRED,
    EndKind.NORMAL: Reason.NORMAL_END,
}


def decide(call: EndedCall, classification: Classification, settings: PolicySettings) -> Decision:
    """Redial an abnormal end of an in-scope queue call to a dialable number, after the window."""
    if classification.kind in _SKIP_FOR_KIND:
        return Decision(Verdict.SKIP, _SKIP_FOR_KIND[classification.kind], classification.reason)
    if settings.queues is not None and call.queue not in settings.queues:
        return Decision(Verdict.SKIP, Reason.QUEUE_OUT_OF_SCOPE, f"queue {call.queue!r} is not protected")
    if not is_dialable(call.customer_number):
        shown = call.customer_number or "withheld"
        return Decision(Verdict.SKIP, Reason.NUMBER_NOT_DIALABLE, f"customer number {shown!r} cannot be dialled")
    if not call.agent_interface or not INTERFACE.fullmatch(call.agent_interface):
        return Decision(
            Verdict.SKIP, Reason.NO_AGENT_INTERFACE, f"agent interface {call.agent_interface!r} cannot be rung"
        )
    return Decision(
        Verdict.REDIAL,
        Reason.ABNORMAL_END,
        classification.reason,
        due_at=call.ended_at + settings.callback_window,
    )
