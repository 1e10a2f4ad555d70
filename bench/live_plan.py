"""bench.live_load's plan and judge, pure: which calls it places, and what the PBX's AMI events say
the daemon did with them (every call answered by an agent and dropped must get exactly one redial;
no call that ended normally may get one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

CHANNEL_ID_PREFIX = "redial-"
# Hang-up causes of a call that ended normally (customer or agent hung up); anything else after
# the answer is an abnormal end (the sandbox's drops end with 44, chan_pjsip's RTP timeout).
NORMAL_CAUSES = frozenset({16, 31})
MAX_CALLS = 100_000  # the plan's numbers are 21255 + five digits

Kind = Literal["drop", "normal"]


# ---- the plan ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedCall:
    index: int
    number: str
    kind: Kind


@dataclass(frozen=True)
class LoadPlan:
    """Which calls are placed: a unique caller number each, drops spread evenly among them."""

    cps: float
    duration: float
    calls: tuple[PlannedCall, ...]

    @property
    def drops(self) -> tuple[PlannedCall, ...]:
        return tuple(c for c in self.calls if c.kind == "drop")

    @property
    def normals(self) -> tuple[PlannedCall, ...]:
        return tuple(c for c in self.calls if c.kind == "normal")

    def kind_of(self) -> dict[str, Kind]:
        return {c.number: c.kind for c in self.calls}


def number_for(index: int) -> str:
    """A valid US number per call (2125500000 + index): unique, so no call looks like a callback."""
    return f"21255{index:05d}"


def plan_load(cps: float, duration: float, drop_ratio: float) -> LoadPlan:
    """round(cps * duration) calls, round(that * drop_ratio) of them drops, spread evenly."""
    if cps <= 0 or duration <= 0:
        raise ValueError("cps and duration must be positive")
    if not 0 <= drop_ratio <= 1:
        raise ValueError("drop_ratio must be between 0 and 1")
    total = round(cps * duration)
    if not 1 <= total <= MAX_CALLS:
        raise ValueError(f"cps * duration must give 1 to {MAX_CALLS} calls, not {total}")
    drops = round(total * drop_ratio)
    calls = []
    for i in range(total):
        # Call i is a drop when the running share of drops steps up at i (Bresenham).
        is_drop = (i + 1) * drops // total > i * drops // total
        calls.append(PlannedCall(i, number_for(i), "drop" if is_drop else "normal"))
    return LoadPlan(cps, duration, tuple(calls))


# ---- what the PBX did -----------------------------------------------------------------------------
@dataclass
class CallSeen:
    """A customer's inbound call as the PBX saw it."""

    linkedid: str
    number: str
    created: float = 0.0
    agent: str = ""  # the queue member interface that answered (AgentConnect), or ""
    cause: int | None = None  # the customer channel's Hangup cause; None while up


@dataclass
class RedialSeen:
    """A redial: the agent leg the daemon originated, named by its ChannelId."""

    channel_id: str
    channel: str
    linkedid: str  # the original call's, from the ChannelId
    created: float = 0.0
    customer_leg: str = ""
    connected: bool = False  # the customer leg entered a bridge


def linkedid_of(channel_id: str) -> str:
    """`redial-<id>-<attempt>-<linkedid>` -> linkedid ("" if it does not have that shape)."""
    parts = channel_id.split("-", 3)
    return parts[3] if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit() else ""


@dataclass
class PbxRecord:
    """Folds AMI events (in arrival order) into calls and redials. Pure: feed it dicts."""

    trunk_prefix: str = "PJSIP/trunk-"
    calls: dict[str, CallSeen] = field(default_factory=dict)  # by Linkedid (= Uniqueid)
    redials: dict[str, RedialSeen] = field(default_factory=dict)  # by ChannelId
    active: set[str] = field(default_factory=set)  # Uniqueids of channels up now
    _redial_customer_legs: dict[str, str] = field(default_factory=dict)  # leg Uniqueid -> ChannelId
    events: int = 0

    def feed(self, msg: Mapping[str, str], received: float = 0.0) -> None:
        self.events += 1
        name = msg.get("Event")
        uid = msg.get("Uniqueid", "")
        if name == "Newchannel":
            self.active.add(uid)
            channel = msg.get("Channel", "")
            linkedid = msg.get("Linkedid", "")
            if uid.startswith(CHANNEL_ID_PREFIX):
                self.redials.setdefault(uid, RedialSeen(uid, channel, linkedid_of(uid), received))
            elif linkedid.startswith(CHANNEL_ID_PREFIX) and channel.startswith(self.trunk_prefix):
                self._redial_customer_legs[uid] = linkedid
                redial = self.redials.get(linkedid)
                if redial is not None and not redial.customer_leg:
                    redial.customer_leg = uid
            elif uid and linkedid == uid and channel.startswith(self.trunk_prefix):
                self.calls[uid] = CallSeen(uid, msg.get("CallerIDNum", ""), received)
        elif name == "Hangup":
            self.active.discard(uid)
            call = self.calls.get(uid)
            if call is not None and call.cause is None:
                try:
                    call.cause = int(msg.get("Cause", ""))
                except ValueError:
                    call.cause = 0
        elif name == "AgentConnect":
            call = self.calls.get(msg.get("Linkedid", ""))
            if call is not None and not call.agent:
                call.agent = msg.get("Interface") or msg.get("MemberName", "")
        elif name == "BridgeEnter":
            channel_id = self._redial_customer_legs.get(uid)
            if channel_id is not None and channel_id in self.redials:
                self.redials[channel_id].connected = True


@dataclass
class Verdict:
    """The plan against the PBX: did the harness place what it meant to, and did the daemon redial
    exactly the dropped calls, once each?"""

    planned: int
    planned_drops: int
    placed: int  # planned calls seen on the PBX
    answered: int
    dropped: int  # answered by an agent, then ended abnormally
    ended_normally: int  # answered, then ended with a normal cause
    redials: int  # redial agent legs seen
    redialled_once: int  # dropped calls with exactly one redial
    same_agent: int  # redials that rang the agent who had the dropped call
    connected: int  # redials whose customer leg was bridged
    missing: list[str] = field(default_factory=list)  # dropped calls never redialled
    double: list[str] = field(default_factory=list)  # calls redialled more than once
    normal_redialled: list[str] = field(default_factory=list)  # normally ended calls redialled
    unanswered_redialled: list[str] = field(default_factory=list)
    orphan_redials: list[str] = field(default_factory=list)  # redials of no call seen
    not_placed: list[str] = field(default_factory=list)  # planned numbers the PBX never saw
    unanswered: list[str] = field(default_factory=list)  # seen, but no agent answered
    unfinished: list[str] = field(default_factory=list)  # no Hangup seen for the customer leg
    deviations: list[str] = field(default_factory=list)  # PBX outcome differs from the plan

    @property
    def daemon_ok(self) -> bool:
        """Every drop redialled exactly once; nothing else redialled."""
        return not (
            self.missing or self.double or self.normal_redialled or self.unanswered_redialled or self.orphan_redials
        )

    @property
    def harness_ok(self) -> bool:
        """Every planned call placed, answered, ended, and ended the way the plan said."""
        return not (self.not_placed or self.unanswered or self.unfinished or self.deviations)


def check(plan: LoadPlan, record: PbxRecord) -> Verdict:
    """Judge the run by what the PBX recorded."""
    kinds = plan.kind_of()
    by_number = {c.number: c for c in record.calls.values() if c.number in kinds}
    redials_of: dict[str, list[RedialSeen]] = {}
    orphans = []
    for redial in record.redials.values():
        if redial.linkedid in record.calls:
            redials_of.setdefault(redial.linkedid, []).append(redial)
        else:
            orphans.append(redial.channel_id)
    v = Verdict(
        planned=len(plan.calls),
        planned_drops=len(plan.drops),
        placed=len(by_number),
        answered=0,
        dropped=0,
        ended_normally=0,
        redials=len(record.redials),
        redialled_once=0,
        same_agent=0,
        connected=sum(1 for r in record.redials.values() if r.connected),
        orphan_redials=orphans,
    )
    v.not_placed = [n for n in kinds if n not in by_number]
    for number, call in sorted(by_number.items()):
        mine = redials_of.get(call.linkedid, [])
        label = f"{number} ({call.linkedid})"
        if len(mine) > 1:
            v.double.append(f"{label}: {', '.join(r.channel_id for r in mine)}")
        if call.agent and any(r.channel.startswith(call.agent + "-") for r in mine):
            v.same_agent += 1
        if call.cause is None:
            v.unfinished.append(label)
            continue
        if not call.agent:
            v.unanswered.append(f"{label} cause {call.cause}")
            if mine:
                v.unanswered_redialled.append(label)
            continue
        v.answered += 1
        abnormal = call.cause not in NORMAL_CAUSES
        if abnormal:
            v.dropped += 1
            if not mine:
                v.missing.append(f"{label} cause {call.cause}")
            elif len(mine) == 1:
                v.redialled_once += 1
        else:
            v.ended_normally += 1
            if mine:
                v.normal_redialled.append(label)
        if abnormal != (kinds[number] == "drop"):
            v.deviations.append(f"{label}: planned {kinds[number]}, PBX cause {call.cause}")
    return v
