"""Checks of the queues: those the configuration names exist, with members Asterisk knows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redial.tools.doctor.findings import Finding, Status


@dataclass(frozen=True, slots=True)
class QueueMemberInfo:
    queue: str
    name: str
    interface: str
    status: int


_MEMBER_STATUS = {0: "unknown", 4: "invalid", 5: "unavailable"}


def check_queues(wanted: Sequence[str] | None, queues: Mapping[str, Sequence[QueueMemberInfo]]) -> list[Finding]:
    """Configured queues exist and have members that can be rung."""
    findings: list[Finding] = []
    if wanted is None:
        if not queues:
            return [
                Finding(
                    "queues",
                    Status.FAIL,
                    "Asterisk has no queues: redial only follows calls answered through Queue()",
                    "define your queues in queues.conf (or check that app_queue is loaded)",
                )
            ]
        names = sorted(queues)
    else:
        names = list(wanted)
    for name in names:
        members = queues.get(name)
        if members is None:
            known = ", ".join(sorted(queues)) or "none"
            findings.append(
                Finding(
                    "queues",
                    Status.FAIL,
                    f"queue {name} is in the redial policy but not in Asterisk (it has: {known})",
                    f"fix the queue name in policy.queues or queue_overrides, or define [{name}] in queues.conf",
                )
            )
            continue
        if not members:
            findings.append(
                Finding(
                    "queues",
                    Status.WARN,
                    f"queue {name} has no members: there is no agent to redial through",
                    f"add members to [{name}] in queues.conf (member => PJSIP/<agent>)",
                )
            )
            continue
        broken = [m for m in members if m.status in (0, 4)]
        if broken:
            listed = ", ".join(f"{m.interface} ({_MEMBER_STATUS[m.status]})" for m in broken)
            findings.append(
                Finding(
                    "queues",
                    Status.WARN,
                    f"queue {name}: {listed}: Asterisk does not know these devices",
                    "check each member's interface names an existing endpoint (pjsip show endpoints)",
                )
            )
            continue
        count = len(members)
        findings.append(Finding("queues", Status.OK, f"queue {name}: {count} member{'s' if count != 1 else ''}"))
    return findings


def endpoint_of(interface: str) -> str | None:
    """``PJSIP/agent1`` → ``agent1``; other technologies have no pjsip endpoint."""
    tech, _, rest = interface.partition("/")
    if tech.upper() != "PJSIP" or not rest:
        return None
    return rest.split("/")[0]
