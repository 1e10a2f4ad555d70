"""bench.live_load's rig: its ports, the sandbox PBX it boots, the SIPps that place its calls, and
its options."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.live_plan import LoadPlan, PlannedCall
from sandbox import SHIPPED_MANAGER, CallMode, CustomerCalls, Sandbox, SippOptions

# Ports of this benchmark: apart from the test suite's (AMI 15038, SIP 15060, RTP 20000-20999,
# SIPp 15061-15099 with media 16000-16999) and the doctor tests' (15138, 15160, 21000-21999).
AMI_PORT = 15338
SIP_PORT = 15360
RTP_PORTS = (23000, 24999)
CUSTOMER_PHONE_PORT = 15401  # the trunk's AOR contact: answers the redials' customer legs
AGENTS_PORT = 15402  # every agent's AOR contact
NORMAL_UAC_PORT = 15403
DROP_UAC_PORT = 15404  # the SIPps' media ports follow from their SIP ports: 19410 to 19440
FASTAGI_PORT = 4673  # the daemon's returning-caller service (shipped: 4573, used by the suite)
STATUS_PORT = 9427  # the daemon's loopback status endpoint (shipped: 9327)
DID = "100"
OBSERVED_EVENTS = ("Newchannel", "Hangup", "AgentConnect", "BridgeEnter")
PHONE_CALLS = 100_000  # -m of the two phones: more than any run places


# ---- the rig --------------------------------------------------------------------------------------
def load_sandbox(
    agents: int,
    *,
    rtp_timeout: int,
    ami_port: int = AMI_PORT,
    sip_port: int = SIP_PORT,
    rtp_ports: tuple[int, int] = RTP_PORTS,
    agents_port: int = AGENTS_PORT,
    customer_phone_port: int = CUSTOMER_PHONE_PORT,
    fastagi_port: int = FASTAGI_PORT,
    manager_conf: Path = SHIPPED_MANAGER,
) -> Sandbox:
    """The sandbox with `agents` agents in queue `support` (every AOR at one SIPp port), queues that
    ring one member at a time, and the dialplan's FastAGI address moved off the test suite's port."""
    names = [f"agent{i}" for i in range(1, agents + 1)]
    return Sandbox(
        ami_port=ami_port,
        sip_port=sip_port,
        rtp_ports=rtp_ports,
        rtp_timeout=rtp_timeout,
        members=[(f"PJSIP/{n}", n) for n in names],
        sales_members=(),
        agent_ports=dict.fromkeys(names, agents_port),
        customer_phone_port=customer_phone_port,
        # ringall would ring every free agent for every call: 50 INVITEs and 49 CANCELs a call.
        queue_strategy="rrmemory",
        fastagi_port=fastagi_port,
        manager_conf=manager_conf,
    )


def load_options(workdir: Path, label: str) -> SippOptions:
    """A load SIPp's own directory in the run's work dir, no message trace (too costly under load),
    and its statistics kept for the report."""
    return SippOptions(workdir=workdir / label, trace_messages=False, stats=True)


def load_calls(plan: LoadPlan, opts: Options, workdir: Path, max_wait: float) -> list[CustomerCalls]:
    """The normal customers (RTP, hang up after the talk time) and the dropped ones (no RTP, so
    the trunk's rtp_timeout hangs them up), each SIPp placing its share evenly over the duration."""
    shares: list[tuple[str, tuple[PlannedCall, ...], CallMode, int]] = [
        ("normal-calls", plan.normals, "hangup", NORMAL_UAC_PORT),
        ("dropped-calls", plan.drops, "rtp_drop", DROP_UAC_PORT),
    ]
    uacs = []
    for label, calls, mode, port in shares:
        if calls:
            uacs.append(
                CustomerCalls(
                    label,
                    [c.number for c in calls],
                    mode,
                    did=DID,
                    duration=opts.duration,
                    local_port=port,
                    max_time=opts.duration + max_wait + 30,
                    wait_time=max_wait,
                    talk_time=opts.talk,
                    caller_name="Load",
                    sip_port=SIP_PORT,
                    options=load_options(workdir, label),
                )
            )
    return uacs


@dataclass
class Options:
    cps: float = 10.0
    duration: float = 120.0
    drop_ratio: float = 0.2
    talk: float = 5.0  # a normal customer hangs up this long after Asterisk answered
    rtp_timeout: int = 4
    agents: int = 0  # 0: enough for the load
    agent_ring: float = 0.2
    agent_rtp: bool = True
    redial_talk: float = 3.0  # the customer answering a redial hangs up after this long
    settle: float = 120.0  # at most this long after the last call for the PBX to go idle
    idle: float = 30.0  # seconds the logged-in daemon is watched with no call, before the calls (0: none)
    sample_every: float = 10.0  # seconds between the soak's samples (RSS, store size, calls placed)
    references: bool = False  # also run the listening-only AMI clients of bench/ami_readers.py
    keep: bool = False
    results: bool = True

    def agent_count(self) -> int:
        if self.agents:
            return self.agents
        # Calls hold an agent for about talk + 2 s; a redial about 15 s (prompts, two rings, talk).
        busy = self.cps * (max(self.talk, self.rtp_timeout) + 2) + self.cps * self.drop_ratio * 15
        return max(5, math.ceil(busy * 1.3))
