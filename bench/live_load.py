"""Live load on the real sandbox Asterisk: SIPp customers at a steady rate, a share dropped by RTP timeout.

    .venv/bin/python -m bench.live_load                      # 10 calls/s for 120 s, 20 % dropped
    .venv/bin/python -m bench.live_load --cps 2 --duration 20 # a small run

What runs (all on 127.0.0.1, needs root for the chroot, and sipp):
- a sandbox Asterisk 22 (sandbox/) with N agent endpoints in queue `support` (rrmemory, so a
  call rings one agent, not all), every agent's AOR pointing at one SIPp UAS that answers them all;
- the trunk's AOR (the customer's phone for redials) at a second SIPp UAS, which answers and hangs
  up after a few seconds;
- the real daemon, `redial run` (sandbox/daemon.py), with a zero callback window;
- two SIPp UACs calling the DID, each with its own numbers from the load plan: the normal customers
  stream RTP and hang up after the talk time; the dropped customers send no RTP, so the trunk's
  rtp_timeout hangs them up (cause 44).
The SIPps are the sandbox's own user agents (sandbox/phones.py: Phone, CustomerPhone, CustomerCalls),
on the scenarios the integration tests use.

The verdict comes from the PBX, never from the daemon: an AMI observer records Newchannel, Hangup,
AgentConnect and BridgeEnter; a redial is a channel whose Uniqueid is the daemon's ChannelId
`redial-<id>-<attempt>-<original Linkedid>`. Every call answered by an agent and dropped must get
exactly one redial; no call that ended normally may get one (the plan and the judge: bench/live_plan.py).

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
import json
import math
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.live_plan import LoadPlan, PbxRecord, PlannedCall, check, plan_load
from bench.machine import ProcSample, Sampler, machine, now_utc, result_path
from sandbox import (
    SHIPPED_MANAGER,
    AmiObserver,
    CallMode,
    CustomerCalls,
    CustomerPhone,
    Phone,
    Sandbox,
    SippOptions,
    SippProcess,
    sipp_available,
)
from sandbox.daemon import DaemonProcess, daemon_config

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
        sandbox = load_sandbox(agents, rtp_timeout=opts.rtp_timeout)
        stack.callback(sandbox.stop)
        await asyncio.to_thread(sandbox.start)
        report["asterisk_version"] = sandbox.cli("core show version").strip()
        say(f"asterisk up in {sandbox.start_seconds:.1f} s (AMI {AMI_PORT}, SIP {SIP_PORT})")

        max_wait = opts.rtp_timeout + 25.0  # a drop that Asterisk never hangs up gives up here
        last_call_end = opts.duration + max(opts.talk, max_wait) + 10
        phones_time = last_call_end + opts.settle + 60
        # One phone answers for every agent (any user part); the customer's answers the redials.
        agent_phone = Phone(
            "agents",
            AGENTS_PORT,
            user="agent",
            mode="answer" if opts.agent_rtp else "silent",
            ring_delay=opts.agent_ring,
            max_calls=PHONE_CALLS,
            max_time=phones_time,
            pbx_port=SIP_PORT,
            options=load_options(workdir, "agents"),
        )
        customer_phone = CustomerPhone(
            CUSTOMER_PHONE_PORT,
            ring_delay=0.5,
            hangup_after=opts.redial_talk,
            max_calls=PHONE_CALLS,
            max_time=phones_time,
            pbx_port=SIP_PORT,
            options=load_options(workdir, "customer-phone"),
        )
        uacs = load_calls(plan, opts, workdir, max_wait)
        sipps: list[SippProcess] = [agent_phone, customer_phone, *uacs]
        for s in sipps:
            stack.callback(s.stop)
        agent_phone.start()
        customer_phone.start()

        config = daemon_config(sandbox, workdir, callback_window=0)
        data = yaml.safe_load(config.read_text())
        data["fastagi"]["port"] = FASTAGI_PORT
        data["status"]["port"] = STATUS_PORT
        # 20 % of all calls dropping is, to the outage guard, a carrier outage: it would spread the
        # redials to 6 a minute. This run is about every drop being redialled, so it never trips.
        data["outage_guard"].update(drops=10000, within=1)
        # Likewise the hourly cap (120 by default): a 2-minute run at 10 calls a second has 240 drops.
        data["policy"]["max_redials_per_hour"] = 0
        config.write_text(yaml.safe_dump(data))
        daemon = DaemonProcess(config, workdir / "redial.log")

        def stop_daemon() -> None:
            with contextlib.suppress(AssertionError):
                daemon.stop(10)

        stack.callback(stop_daemon)
        await asyncio.to_thread(daemon.start, 30.0)
        daemon_pid = daemon.pid
        assert daemon_pid is not None

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

            asterisk_pid = sandbox.asterisk_pid
            assert asterisk_pid is not None
            pids = {"daemon": daemon_pid, "asterisk": asterisk_pid}
            pids.update({f"sipp_{s.label}": s.pid for s in sipps if s.pid is not None})
            sampler = Sampler(pids)
            sampler.start()
            stack.callback(sampler.stop)
            await asyncio.sleep(2)  # a quiet baseline: what the idle daemon and Asterisk cost
            idle = sampler.sample()
            for uac in uacs:
                uac.start()
                assert uac.pid is not None
                sampler.pids[f"sipp_{uac.label}"] = uac.pid
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
            "idle_2s": sampler.usage(sampler.samples[0], idle, ["daemon", "asterisk"]),
            "load": sampler.usage(start, load_end, names),
            "load_and_settle": sampler.usage(start, end, names),
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
        report["sipp"] = {s.label: {"log": s.event_counts(), "stats": s.stats(), "exit": s.returncode} for s in sipps}
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
            " / ".join(str(report["daemon"][k]) for k in ("rss_mb_start", "rss_mb_peak", "rss_mb_end")),
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
