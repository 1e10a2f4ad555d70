"""Was a call's end normal or abnormal? A pure function of the ended call and the settings."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from redial.config import PolicySettings
from redial.core.tracker import EndedCall

# Q.850 cause names for log lines and history (the ones a call center meets).
CAUSE_NAMES = {
    0: "undefined",
    1: "unallocated number",
    16: "normal clearing",
    17: "user busy",
    18: "no user responding",
    19: "no answer",
    21: "call rejected",
    26: "answered elsewhere",
    27: "destination out of order",
    31: "normal unspecified",
    34: "no circuit available",
    38: "network out of order",
    41: "temporary failure",
    42: "switching equipment congestion",
    44: "requested channel not available",
    47: "resource unavailable",
    102: "recovery on timer expiry",
    127: "interworking",
}


def cause_name(cause: int | None) -> str:
    if cause is None:
        return "no cause"
    return CAUSE_NAMES.get(cause, f"cause {cause}")


class EndKind(enum.Enum):
    NOT_QUEUE_CALL = "not_queue_call"
    UNANSWERED = "unanswered"
    TRANSFERRED = "transferred"
    NORMAL = "normal"
    ABNORMAL = "abnormal"


@dataclass(frozen=True, slots=True)
class Classification:
    kind: EndKind
    reason: str

    @property
    def abnormal(self) -> bool:
        return self.kind is EndKind.ABNORMAL


def classify(call: EndedCall, settings: PolicySettings) -> Classification:
    """Classify by the Hangup cause of the conversation leg that ended first.

    AgentComplete's Reason is deliberately not used: it says ``caller`` for an
    RTP-timeout drop. Transfers are never drops.
    """
    if call.queue is None:
        return Classification(EndKind.NOT_QUEUE_CALL, "the call never joined a queue")
    if call.answered_at is None:
        return Classification(EndKind.UNANSWERED, "no agent answered the call")
    if call.transferred:
        return Classification(EndKind.TRANSFERRED, "the call was transferred")
    leg = call.ended_by.value
    cause = call.cause
    # SoftHangupRequest bit 4 (SHUTDOWN): `core restart now` / `core stop now` cut every call.
    if call.pbx_restart or (call.soft_cause is not None and call.soft_cause & 4):
        kind = EndKind.ABNORMAL if settings.pbx_restart_abnormal else EndKind.NORMAL
        return Classification(kind, f"Asterisk shut down or restarted under the call; configured {kind.value}")
    if settings.driver_hangup_abnormal and call.soft_cause is not None and call.soft_cause & 1:
        # SoftHangupRequest bit 1: the channel driver gave up on the leg (RTP timeout, lost transport).
        return Classification(
            EndKind.ABNORMAL, f"the channel driver hung up the {leg} leg (media or transport lost), cause {cause}"
        )
    described = f"{leg} leg ended first with cause {cause} ({cause_name(cause)})"
    if cause is None:
        return Classification(EndKind.NORMAL, f"{leg} leg ended first without a cause")
    if cause == 0:
        kind = EndKind.ABNORMAL if settings.undefined_cause_abnormal else EndKind.NORMAL
        return Classification(kind, described + "; undefined causes are configured " + kind.value)
    if cause in settings.abnormal_causes:
        return Classification(EndKind.ABNORMAL, described)
    return Classification(EndKind.NORMAL, described)
