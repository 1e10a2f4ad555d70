"""Live load on the real sandbox Asterisk: SIPp customers at a steady rate, a share dropped by RTP timeout.

    .venv/bin/python -m bench.live_load                      # 10 calls/s for 120 s, 20 % dropped
    .venv/bin/python -m bench.live_load --cps 2 --duration 20 # a small run

What runs (all on 127.0.0.1, needs root for the chroot, and sipp):
- a sandbox Asterisk 22 (sandbox) with N agent endpoints in queue `support` (rrmemory, so a
  call rings one agent, not all), every agent's AOR pointing at one SIPp UAS that answers them all;
- the trunk's AOR (the customer's phone for redials) at a second SIPp UAS, which answers and hangs
  up after a few seconds;
- the real daemon, `redial run` (sandbox/daemon.py), with a zero callback window;
- two SIPp UACs calling the DID, each with its own numbers from the load plan: the normal customers
  stream RTP and hang up after the talk time; the dropped customers send no RTP, so the trunk's
  rtp_timeout hangs them up (cause 44).

The verdict comes from the PBX, never from the daemon: an AMI observer records Newchannel, Hangup,
AgentConnect and BridgeEnter; a redial is a channel whose Uniqueid is the daemon's ChannelId
`redial-<id>-<attempt>-<original Linkedid>`. Every call answered by an agent and dropped must get
exactly one redial; no call that ended normally may get one.

Figures: the daemon's CPU time (user + sys of its process, /proc/<pid>/stat) and resident size
(peak and at the end), Asterisk's and SIPp's CPU for comparison. A summary table is printed and the
figures go to bench/results/live_load-<date>.json with the machine's description.

Bounded: every SIPp has -m and -timeout, the settle wait has a limit, and Asterisk, SIPp and the
daemon are stopped on every exit path (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bench.machine import ProcSample, machine, now_utc, result_path, system_cpu
from sandbox import LOCALHOST, Sandbox
from sandbox.daemon import DaemonProcess, daemon_config
from sandbox.observer import AmiObserver
from sandbox.sipp import SCENARIO_DIR, sipp_available, write_silence

# Ports of this benchmark: apart from the test suite's (AMI 15038, SIP 15060, RTP 20000-20999,
# SIPp 15061-15099 with media 16000-16999) and the doctor tests' (15138, 15160, 21000-21999).
AMI_PORT = 15338
SIP_PORT = 15360
RTP_PORTS = (23000, 24999)
CUSTOMER_PHONE_PORT = 15401  # the trunk's AOR contact: answers the redials' customer legs
AGENTS_PORT = 15402  # every agent's AOR contact
NORMAL_UAC_PORT = 15403
DROP_UAC_PORT = 15404
MEDIA_PORTS = {CUSTOMER_PHONE_PORT: 18400, AGENTS_PORT: 18410, NORMAL_UAC_PORT: 18420, DROP_UAC_PORT: 18430}
FASTAGI_PORT = 4673  # the daemon's returning-caller service (shipped: 4573, used by the suite)
STATUS_PORT = 9427  # the daemon's loopback status endpoint (shipped: 9327)
DID = "100"
CHANNEL_ID_PREFIX = "redial-"
# Hang-up causes of a call that ended normally (customer or agent hung up); anything else after
# the answer is an abnormal end (the sandbox's drops end with 44, chan_pjsip's RTP timeout).
NORMAL_CAUSES = frozenset({16, 31})
MAX_CALLS = 100_000  # the plan's numbers are 21255 + five digits
OBSERVED_EVENTS = ("Newchannel", "Hangup", "AgentConnect", "BridgeEnter")

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


# ---- the rig --------------------------------------------------------------------------------------
class LoadSandbox(Sandbox):
    """The test sandbox with many agents (every AOR at one SIPp port), a queue that rings one member
    at a time, and the dialplan's FastAGI address moved off the test suite's port."""

    def __init__(
        self,
        *,
        agents: int,
        workdir: Path,
        rtp_timeout: int,
        ami_port: int = AMI_PORT,
        sip_port: int = SIP_PORT,
        rtp_ports: tuple[int, int] = RTP_PORTS,
        agents_port: int = AGENTS_PORT,
        customer_phone_port: int = CUSTOMER_PHONE_PORT,
        fastagi_port: int = FASTAGI_PORT,
    ) -> None:
        names = [f"agent{i}" for i in range(1, agents + 1)]
        super().__init__(
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
        )


class Sipp:
    """One SIPp process for the load: its own work dir, no message trace (too costly at load),
    its <log> lines and statistics kept for the report."""

    def __init__(
        self,
        label: str,
        scenario: str,
        workdir: Path,
        *,
        sip_port: int,
        service: str,
        max_calls: int,
        max_time: float,
        extra: Sequence[str] = (),
    ) -> None:
        self.label = label
        self.dir = workdir / label
        self.dir.mkdir(parents=True)
        write_silence(self.dir / "silence.ulaw")
        (self.dir / "scenario.xml").write_text(scenario, encoding="utf-8")
        self.log_path = self.dir / "events.log"
        self.stat_path = self.dir / "stat.csv"
        self.cmd = [
            "sipp",
            "-sf",
            "scenario.xml",
            "-i",
            LOCALHOST,
            "-p",
            str(sip_port),
            "-mi",
            LOCALHOST,
            "-mp",
            str(MEDIA_PORTS[sip_port]),
            "-ci",
            LOCALHOST,
            "-s",
            service,
            "-m",
            str(max_calls),
            "-timeout",
            f"{max(1, math.ceil(max_time))}s",
            "-aa",
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(self.log_path),
            "-trace_err",
            "-error_file",
            str(self.dir / "errors.log"),
            "-trace_stat",
            "-stf",
            str(self.stat_path),
            "-fd",
            "5",
            *extra,
            f"{LOCALHOST}:{SIP_PORT}",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.dir / "screen.log", "wb") as screen:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=screen,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.label}: sipp exited with {self.proc.returncode} at start:\n{self.tail()}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tail(self, lines: int = 15) -> str:
        out = []
        for name in ("errors.log", "screen.log"):
            with contextlib.suppress(OSError):
                text = (self.dir / name).read_text(errors="replace").splitlines()
                out.append(f"--- {self.label} {name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    def log_counts(self) -> dict[str, int]:
        """How many of each <log> line (ANSWERED, BYE_RECEIVED, BYE_SENT, GAVE_UP, END...)."""
        counts: Counter[str] = Counter()
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as fh:
            for line in fh:
                kind = line.split("|", 1)[0].strip()
                if kind.isupper():
                    counts[kind] += 1
        return dict(counts)

    def stats(self) -> dict[str, str]:
        """The last row of SIPp's own statistics (cumulative columns only)."""
        try:
            with open(self.stat_path, newline="", errors="replace") as fh:
                rows = list(csv.reader(fh, delimiter=";"))
        except OSError:
            return {}
        if len(rows) < 2:
            return {}
        wanted = (
            "TotalCallCreated",
            "SuccessfulCall(C)",
            "FailedCall(C)",
            "Retransmissions(C)",
            "FailedMaxUDPRetrans(C)",
            "FailedUnexpectedMessage(C)",
            "FailedCallRejected(C)",
            "DeadCallMsgs(C)",
            "OutOfCallMsgs(C)",
            "AutoAnswered(C)",
        )
        return {k: v for k, v in zip(rows[0], rows[-1], strict=False) if k in wanted}


def _template(name: str, values: Mapping[str, str]) -> str:
    text = (SCENARIO_DIR / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _injection(path: Path, numbers: Iterable[str]) -> Path:
    path.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers), encoding="ascii")
    return path


def uac(
    label: str,
    workdir: Path,
    numbers: Sequence[str],
    *,
    drop: bool,
    duration: float,
    talk: float,
    max_wait: float,
    sip_port: int,
) -> Sipp:
    """A SIPp placing len(numbers) calls evenly over `duration` seconds, one number each.

    drop: send no RTP and wait for Asterisk's BYE (rtp_timeout); else stream RTP and hang up
    after `talk` seconds.
    """
    talk_attr = (
        f'timeout="{round(max_wait * 1000)}" ontimeout="giveup"'
        if drop
        else f'timeout="{round(talk * 1000)}" ontimeout="hangup"'
    )
    scenario = _template(
        "customer_call.xml",
        {
            "CALLER": "[field0]",
            "CALLER_NAME": "Load",
            "TALK": talk_attr,
            "BYE_HEADERS": "",
            "MEDIA": "" if drop else '<exec rtp_stream="silence.ulaw,-1,0"/>',
        },
    )
    sipp = Sipp(
        label,
        scenario,
        workdir,
        sip_port=sip_port,
        service=DID,
        max_calls=len(numbers),
        max_time=duration + max_wait + 30,
    )
    inf = _injection(sipp.dir / "numbers.csv", numbers)
    # -r N -rp D: N calls per D ms, i.e. all of them spread evenly over the duration.
    sipp.cmd[-1:-1] = [
        "-inf",
        str(inf),
        "-r",
        str(len(numbers)),
        "-rp",
        str(round(duration * 1000)),
        "-l",
        str(len(numbers)),
    ]
    return sipp


def uas(
    label: str,
    workdir: Path,
    *,
    sip_port: int,
    user: str,
    ring: float,
    hangup_after: float | None,
    max_time: float,
    rtp: bool,
) -> Sipp:
    """A SIPp answering every INVITE after `ring` s (any user part), until BYE or hangup_after."""
    bye_wait = f'timeout="{round(hangup_after * 1000)}" ontimeout="hangup"' if hangup_after else ""
    scenario = _template(
        "phone_answer.xml", {"RING_MS": str(max(1, round(ring * 1000))), "BYE_WAIT": bye_wait, "AUDIO": "silence.ulaw"}
    )
    if not rtp:
        scenario = scenario.replace('<exec rtp_stream="silence.ulaw,-1,0"/>', "")
    return Sipp(label, scenario, workdir, sip_port=sip_port, service=user, max_calls=MAX_CALLS, max_time=max_time)


class Sampler:
    """Samples CPU and memory of the named processes once a second, in a thread."""

    def __init__(self, pids: Mapping[str, int], interval: float = 1.0) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._lock = threading.Lock()

    def sample(self) -> dict[str, Any]:
        busy, total = system_cpu()
        row: dict[str, Any] = {"t": time.monotonic(), "system_busy": busy, "system_total": total}
        for name, pid in self.pids.items():
            s = ProcSample.read(pid)
            if s is not None:
                row[name] = s
        with self._lock:
            self.samples.append(row)
        return row

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def peak_rss(self, name: str) -> float:
        with self._lock:
            return max((row[name].rss_mb for row in self.samples if name in row), default=0.0)


def _asterisk_pid(sandbox: Sandbox) -> int:
    """The Asterisk process (`chroot` execs it, so normally the sandbox's own pid)."""
    pid = sandbox.pid
    assert pid is not None
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/comm").read_text().strip() != "asterisk":
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if children:
                return int(children[0])
    return pid


def _queue_log_counts(path: Path) -> dict[str, int]:
    counts: Counter[str] = Counter()
    with contextlib.suppress(OSError), open(path, errors="replace") as fh:
        for line in fh:
            parts = line.split("|")
            if len(parts) > 4:
                counts[parts[4].strip()] += 1
    return dict(sorted(counts.items()))


def _metrics(port: int) -> dict[str, float]:
    """The daemon's own counters (its word, reported beside the PBX's, never judged by)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(
            (
                "redial_drops_total",
                "redial_outcomes_total",
                "redial_redials_total",
                "redial_decisions_total",
                "redial_calls_total",
            )
        ):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


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
    keep: bool = False
    results: bool = True

    def agent_count(self) -> int:
        if self.agents:
            return self.agents
        # Calls hold an agent for about talk + 2 s; a redial about 15 s (prompts, two rings, talk).
        busy = self.cps * (max(self.talk, self.rtp_timeout) + 2) + self.cps * self.drop_ratio * 15
        return max(5, math.ceil(busy * 1.3))


def _resources(
    sampler: Sampler, start: Mapping[str, Any], end: Mapping[str, Any], names: Iterable[str]
) -> dict[str, Any]:
    """CPU each process used between two samples; a process that exited before `end` (a UAC that
    finished) counts up to its last sample."""
    wall = end["t"] - start["t"]
    out: dict[str, Any] = {"wall_s": round(wall, 1)}
    for name in names:
        a = start.get(name)
        b = next((row[name] for row in reversed(sampler.samples) if row["t"] <= end["t"] and name in row), None)
        if a is None or b is None:
            continue
        cpu = b.cpu - a.cpu
        out[name] = {
            "cpu_s": round(cpu, 2),
            "cpu_pct_of_one_core": round(100 * cpu / wall, 1) if wall else 0.0,
            "rss_mb_last": round(b.rss_mb, 1),
        }
    busy = end["system_busy"] - start["system_busy"]
    total = end["system_total"] - start["system_total"]
    out["machine_busy_pct"] = round(100 * busy / total, 1) if total else 0.0
    return out


async def run(opts: Options, out: Any = sys.stdout) -> dict[str, Any]:
    """Run the load; return the report (also written to bench/results/ unless opts.results is off)."""

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    if not sipp_available():
        raise SystemExit("sipp is not installed (Debian package sip-tester)")
    plan = plan_load(opts.cps, opts.duration, opts.drop_ratio)
    agents = opts.agent_count()
    workdir = Path(tempfile.mkdtemp(prefix="redial-live-load-"))
    say(
        f"live load: {len(plan.calls)} calls ({len(plan.drops)} drops) at {opts.cps:g}/s for {opts.duration:g} s, "
        f"{agents} agents; work dir {workdir}"
    )
    report: dict[str, Any] = {"date": now_utc(), "machine": machine(), "options": asdict(opts), "agents": agents}
    ok = False
    with contextlib.ExitStack() as stack:
        sandbox = LoadSandbox(agents=agents, workdir=workdir, rtp_timeout=opts.rtp_timeout)
        stack.callback(sandbox.stop)
        await asyncio.to_thread(sandbox.start)
        report["asterisk_version"] = sandbox.cli("core show version").strip()
        say(f"asterisk up in {sandbox.start_seconds:.1f} s (AMI {AMI_PORT}, SIP {SIP_PORT})")

        max_wait = opts.rtp_timeout + 25.0  # a drop that Asterisk never hangs up gives up here
        last_call_end = opts.duration + max(opts.talk, max_wait) + 10
        phones_time = last_call_end + opts.settle + 60
        agent_uas = uas(
            "agents",
            workdir,
            sip_port=AGENTS_PORT,
            user="agent",
            ring=opts.agent_ring,
            hangup_after=None,
            max_time=phones_time,
            rtp=opts.agent_rtp,
        )
        customer_uas = uas(
            "customer-phone",
            workdir,
            sip_port=CUSTOMER_PHONE_PORT,
            user="customer",
            ring=0.5,
            hangup_after=opts.redial_talk,
            max_time=phones_time,
            rtp=True,
        )
        uacs = []
        if plan.normals:
            uacs.append(
                uac(
                    "normal-calls",
                    workdir,
                    [c.number for c in plan.normals],
                    drop=False,
                    duration=opts.duration,
                    talk=opts.talk,
                    max_wait=max_wait,
                    sip_port=NORMAL_UAC_PORT,
                )
            )
        if plan.drops:
            uacs.append(
                uac(
                    "dropped-calls",
                    workdir,
                    [c.number for c in plan.drops],
                    drop=True,
                    duration=opts.duration,
                    talk=opts.talk,
                    max_wait=max_wait,
                    sip_port=DROP_UAC_PORT,
                )
            )
        sipps = [agent_uas, customer_uas, *uacs]
        for s in sipps:
            stack.callback(s.stop)
        agent_uas.start()
        customer_uas.start()

        config = daemon_config(sandbox, workdir, callback_window=0)
        data = yaml.safe_load(config.read_text())
        data["fastagi"]["port"] = FASTAGI_PORT
        data["status"]["port"] = STATUS_PORT
        # 20 % of all calls dropping is, to the outage guard, a carrier outage: it would spread the
        # redials to 6 a minute. This run is about every drop being redialled, so it never trips.
        data["outage_guard"].update(drops=10000, within=1)
        config.write_text(yaml.safe_dump(data))
        daemon = DaemonProcess(config, workdir / "redial.log")

        def stop_daemon() -> None:
            with contextlib.suppress(AssertionError):
                daemon.stop(10)

        stack.callback(stop_daemon)
        await asyncio.to_thread(daemon.start, 30.0)
        daemon_pid = _find_daemon_pid(config)

        observer = AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials)
        await observer.connect()
        try:
            for name in OBSERVED_EVENTS:
                await observer.action({"Action": "Filter", "Operation": "Add", "Filter": f"Event: {name}"})
            record = PbxRecord()
            fed = 0

            def catch_up() -> None:
                nonlocal fed
                for msg in observer.events[fed:]:
                    record.feed(msg, msg.received)
                fed = len(observer.events)

            pids = {"daemon": daemon_pid, "asterisk": _asterisk_pid(sandbox)}
            pids.update({f"sipp_{s.label}": s.pid for s in sipps if s.pid is not None})
            sampler = Sampler(pids)
            sampler.start()
            stack.callback(sampler.stop)
            await asyncio.sleep(2)  # a quiet baseline: what the idle daemon and Asterisk cost
            idle = sampler.sample()
            for s in uacs:
                s.start()
                sampler.pids[f"sipp_{s.label}"] = s.pid  # type: ignore[assignment]
            began = time.monotonic()
            start = sampler.sample()
            next_print = began + 10
            deadline = began + last_call_end + 30
            while any(s.running for s in uacs) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                catch_up()
                if time.monotonic() >= next_print:
                    next_print += 10
                    row = sampler.samples[-1]
                    d = row.get("daemon")
                    say(
                        f"  t={time.monotonic() - began:5.0f}s calls {len(record.calls):5d}  channels up "
                        f"{len(record.active):4d}  redials {len(record.redials):4d}  daemon cpu "
                        f"{d.cpu - start['daemon'].cpu if d else 0:6.2f}s rss {d.rss_mb if d else 0:5.1f}MB"
                    )
            load_end = sampler.sample()
            # Settle: the last drops' redials ring, talk and end. Idle = no channel for 5 s.
            settle_deadline = time.monotonic() + opts.settle
            idle_since: float | None = None
            while time.monotonic() < settle_deadline:
                await asyncio.sleep(0.5)
                catch_up()
                if record.active:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= 5:
                    break
            catch_up()
            end = sampler.sample()
            report["daemon_metrics"] = _metrics(STATUS_PORT)
        finally:
            await observer.close()
        daemon_end = ProcSample.read(daemon_pid)
        stop_daemon()
        sampler.stop()

        verdict = check(plan, record)
        names = list(sampler.pids)
        report["plan"] = {"calls": len(plan.calls), "drops": len(plan.drops), "normal": len(plan.normals)}
        report["verdict"] = {
            k: (v if not isinstance(v, list) else {"count": len(v), "first": v[:10]})
            for k, v in asdict(verdict).items()
        }
        report["daemon_ok"] = verdict.daemon_ok
        report["harness_ok"] = verdict.harness_ok
        created = sorted(c.created for c in record.calls.values())
        span = created[-1] - created[0] if len(created) > 1 else 0.0
        report["achieved_cps"] = round((len(created) - 1) / span, 2) if span else 0.0
        report["channels_left_up"] = len(record.active)
        report["resources"] = {
            "idle_2s": _resources(sampler, sampler.samples[0], idle, ["daemon", "asterisk"]),
            "load": _resources(sampler, start, load_end, names),
            "load_and_settle": _resources(sampler, start, end, names),
        }
        d0, d1 = start["daemon"], daemon_end or end["daemon"]
        report["daemon"] = {
            "cpu_s": round(d1.cpu - d0.cpu, 2),
            "cpu_ms_per_call": round(1000 * (d1.cpu - d0.cpu) / max(1, len(record.calls)), 2),
            "rss_mb_start": round(d0.rss_mb, 1),
            "rss_mb_peak": round(max(d1.peak_rss_mb, sampler.peak_rss("daemon")), 1),
            "rss_mb_end": round(d1.rss_mb, 1),
            "log_lines": len(daemon.log_path.read_text(errors="replace").splitlines()),
            "event_failed_lines": len(daemon.lines("event_failed")),
            "exit_code": daemon.stop(10),
        }
        a0, a1 = start["asterisk"], end["asterisk"]
        report["asterisk"] = {
            "cpu_s": round(a1.cpu - a0.cpu, 2),
            "rss_mb_end": round(a1.rss_mb, 1),
            "rss_mb_peak": round(a1.peak_rss_mb, 1),
        }
        report["sipp"] = {
            s.label: {"log": s.log_counts(), "stats": s.stats(), "exit": s.proc.poll() if s.proc else None}
            for s in sipps
        }
        report["queue_log"] = _queue_log_counts(sandbox.queue_log_path)
        report["asterisk_warnings"] = _asterisk_warnings(sandbox.log_path)
        report["rss_timeline_mb"] = [round(row["daemon"].rss_mb, 1) for row in sampler.samples if "daemon" in row][::5]
        ok = verdict.daemon_ok and verdict.harness_ok
    if opts.results:
        path = result_path("live_load")
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        report["result_file"] = str(path)
    print_summary(report, out)
    if ok and not opts.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"work dir kept: {workdir} (SIPp logs, daemon log, config)")
    return report


def _find_daemon_pid(config: Path) -> int:
    """The pid of the `redial run --config <config>` process (DaemonProcess keeps it private)."""
    wanted = str(config).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in argv and wanted in argv and any(a.endswith(b"redial.tools.cli") for a in argv):
            return int(entry.name)
    raise RuntimeError(f"no running `redial run --config {config}` process")


def _asterisk_warnings(path: Path) -> dict[str, int]:
    """WARNING and ERROR lines of Asterisk's log, grouped by their source location."""
    counts: Counter[str] = Counter()
    with contextlib.suppress(OSError), open(path, errors="replace") as fh:
        for line in fh:
            for level in ("WARNING", "ERROR"):
                marker = f" {level}["
                if marker in line:
                    where = line.split("]", 2)[-1].split(":", 1)[0].strip()
                    counts[f"{level} {where}"] += 1
    return dict(counts.most_common(10))


def print_summary(report: Mapping[str, Any], out: Any = sys.stdout) -> None:
    v = report["verdict"]

    def n(key: str) -> int:
        value = v[key]
        return int(value["count"] if isinstance(value, dict) else value)

    load = report["resources"]["load"]
    rows = [
        ("calls planned / placed on the PBX", f"{report['plan']['calls']} / {v['placed']}"),
        ("achieved rate (calls/s)", f"{report['achieved_cps']}"),
        ("answered by an agent", f"{v['answered']}"),
        ("dropped after answer (planned)", f"{v['dropped']} ({report['plan']['drops']})"),
        ("ended normally", f"{v['ended_normally']}"),
        ("redials (agent legs originated)", f"{v['redials']}"),
        ("drops redialled exactly once", f"{v['redialled_once']}"),
        ("drops never redialled", f"{n('missing')}"),
        ("double redials", f"{n('double')}"),
        ("normal calls redialled", f"{n('normal_redialled')}"),
        ("redials that rang the same agent", f"{v['same_agent']}"),
        ("redials connected (customer bridged)", f"{v['connected']}"),
        (
            "harness deviations (unanswered/unfinished/not as planned)",
            f"{n('unanswered')}/{n('unfinished')}/{n('deviations')}",
        ),
        ("daemon CPU s (ms per call)", f"{report['daemon']['cpu_s']} ({report['daemon']['cpu_ms_per_call']})"),
        ("daemon CPU % of one core, during load", f"{load.get('daemon', {}).get('cpu_pct_of_one_core', '?')}"),
        (
            "daemon RSS MB start / peak / end",
            f"{report['daemon']['rss_mb_start']} / {report['daemon']['rss_mb_peak']} / {report['daemon']['rss_mb_end']}",
        ),
        (
            "Asterisk CPU s (% of one core, during load)",
            f"{report['asterisk']['cpu_s']} ({load.get('asterisk', {}).get('cpu_pct_of_one_core', '?')})",
        ),
        ("SIPp CPU s (all five)", f"{sum(x['cpu_s'] for k, x in load.items() if k.startswith('sipp_')):.2f}"),
        ("machine busy % (all cores, during load)", f"{load['machine_busy_pct']}"),
        (
            "daemon verdict / harness verdict",
            f"{'OK' if report['daemon_ok'] else 'FAIL'} / {'OK' if report['harness_ok'] else 'FAIL'}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print("", file=out)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}", file=out)
    for key in (
        "missing",
        "double",
        "normal_redialled",
        "unanswered_redialled",
        "orphan_redials",
        "not_placed",
        "unanswered",
        "unfinished",
        "deviations",
    ):
        value = v[key]
        if value["count"]:
            print(f"  {key}: {value['count']}, e.g. {value['first'][:3]}", file=out)
    if "result_file" in report:
        print(f"  figures written to {report['result_file']}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_load", description=__doc__.split("\n\n")[0])
    d = Options()
    parser.add_argument("--cps", type=float, default=d.cps, help="calls placed per second (default 10)")
    parser.add_argument("--duration", type=float, default=d.duration, help="seconds of calls (default 120)")
    parser.add_argument("--drop-ratio", type=float, default=d.drop_ratio, help="share dropped (default 0.2)")
    parser.add_argument("--talk", type=float, default=d.talk, help="seconds a normal call lasts after answer")
    parser.add_argument("--rtp-timeout", type=int, default=d.rtp_timeout, help="trunk rtp_timeout (s)")
    parser.add_argument("--agents", type=int, default=d.agents, help="agent endpoints (default: enough)")
    parser.add_argument(
        "--no-agent-rtp",
        dest="agent_rtp",
        action="store_false",
        help="agents' phones send no RTP (their endpoints have no rtp_timeout)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (SIPp and daemon logs)")
    parser.add_argument("--no-results", dest="results", action="store_false", help="write no JSON file")
    args = parser.parse_args(argv)
    opts = Options(
        cps=args.cps,
        duration=args.duration,
        drop_ratio=args.drop_ratio,
        talk=args.talk,
        rtp_timeout=args.rtp_timeout,
        agents=args.agents,
        agent_rtp=args.agent_rtp,
        keep=args.keep,
        results=args.results,
    )

    async def guarded() -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(opts)

    try:
        report = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: Asterisk, SIPp and the daemon were stopped", file=sys.stderr)
        return 130
    return 0 if report["daemon_ok"] and report["harness_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
