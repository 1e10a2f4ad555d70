"""Live load on the real sandbox Asterisk: SIPp customers at a steady rate, a share dropped by RTP timeout.

    .venv/bin/python -m bench.live_load                      # 10 calls/s for 120 s, 20 % dropped
    .venv/bin/python -m bench.live_load --cps 2 --duration 20 # a small run
    .venv/bin/python -m bench.live_load --duration 1800      # the 30-minute soak (outside CI)

What runs (all on 127.0.0.1, needs root for the chroot, and sipp):
- a sandbox Asterisk 22 (sandbox/) with N agent endpoints in queue `support` (rrmemory, so a
  call rings one agent, not all), every agent's AOR pointing at one SIPp UAS that answers them all;
- the trunk's AOR (the customer's phone for redials) at a second SIPp UAS, which answers and hangs
  up after a few seconds;
- the real daemon, `redial run` (sandbox/daemon.py), with a zero callback window;
- two SIPp UACs calling the DID, each with its own numbers from the load plan: the normal customers
  stream RTP and hang up after the talk time; the dropped customers send no RTP, so the trunk's
  rtp_timeout hangs them up (cause 44).
The SIPps are the sandbox's own user agents (sandbox/phones.py: Phone, CustomerPhone;
sandbox/customers.py: CustomerCalls), on the scenarios the integration tests use.

The verdict comes from the PBX, never from the daemon: an AMI observer records Newchannel, Hangup,
AgentConnect and BridgeEnter; a redial is a channel whose Uniqueid is the daemon's ChannelId
`redial-<id>-<attempt>-<original Linkedid>`. Every call answered by an agent and dropped must get
exactly one redial; no call that ended normally may get one (the plan and the judge: bench/live_plan.py).

Figures: the daemon's CPU time (user + sys of its process, /proc/<pid>/stat) and resident size
(peak and at the end), Asterisk's and SIPp's CPU for comparison. A summary table is printed and the
figures go to bench/results/live_load-<date>.json with the machine's description.

Targets (issue 14; the arithmetic: bench/targets.py), each printed with its verdict; main() exits
non-zero when the PBX's verdicts fail or any target is missed, and names what was missed:
- the daemon's CPU over Asterisk's, from the same two samples (calls and settle): at most 0.03;
- the idle phase (`--idle`, 30 s; 0 skips it), after the daemon logged in and before the calls: its
  CPU under 0.1 % of one core (schedstat, ns), and its main thread's wake-ups (voluntary context
  switches, /proc/<pid>/task/*/status, every thread reported) at most two per Ping of the config's
  ping interval (2 s here), one Ping more for the window's edges;
- the soak: every `--sample-every` seconds (10) the daemon's RSS, the store's bytes (file, -wal,
  -shm) and the calls placed, as `soak.series` in the JSON; RSS growth after the warm-up (10 % of
  the run or 60 s, the longer) at most the store's growth in the same interval plus 2 MB (SQLite's
  page cache at the default cache_size -2000, which the store does not change). Runs with no
  samples after the warm-up leave it unjudged.

Bounded: every SIPp has -m and -timeout, the settle wait has a limit, and Asterisk, SIPp and the
daemon are stopped on every exit path (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from bench.live_plan import PbxRecord, check, plan_load
from bench.live_references import reference_report, start_references, stop_references
from bench.live_report import (
    asterisk_warnings,
    daemon_metrics,
    exit_code,
    print_summary,
    queue_log_counts,
    ratio_report,
    soak_report,
)
from bench.live_rig import (
    AGENTS_PORT,
    AMI_PORT,
    CUSTOMER_PHONE_PORT,
    FASTAGI_PORT,
    OBSERVED_EVENTS,
    PHONE_CALLS,
    SIP_PORT,
    STATUS_PORT,
    Options,
    load_calls,
    load_options,
    load_sandbox,
)
from bench.machine import ProcSample, Sampler, SoakSeries, ThreadsSample, machine, now_utc, result_path, sqlite_files
from bench.targets import IdleResult, Target, missed, switch_increase
from sandbox import AmiObserver, CustomerPhone, Phone, SippProcess, sipp_available
from sandbox.daemon import DaemonProcess, daemon_config


async def measure_idle(pid: int, seconds: float, ping_interval: float) -> IdleResult:
    """The daemon's CPU and every thread's wake-ups over `seconds` with no call on the PBX."""
    before, began = ThreadsSample.read(pid), time.monotonic()
    await asyncio.sleep(seconds)
    after, ended = ThreadsSample.read(pid), time.monotonic()
    if before is None or after is None:
        raise RuntimeError("the daemon exited during the idle phase")
    return IdleResult(
        seconds=ended - began,
        ping_interval=ping_interval,
        cpu_s=(after.cpu_ns - before.cpu_ns) / 1e9,
        main_tid=pid,
        wakeups=switch_increase(before.voluntary, after.voluntary),
        threads_gone=len(before.voluntary.keys() - after.voluntary.keys()),
    )


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
    targets: list[Target] = []
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
        ping_interval = float(data["ami"]["ping_interval"])
        store_files = sqlite_files(Path(data["store"]["path"]))
        report["daemon_config"] = {"ping_interval_s": ping_interval, "store": str(store_files[0])}
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
            references = start_references(daemon.config) if opts.references else {}
            stack.callback(stop_references, references)
            pids.update({name: proc.pid for name, proc in references.items()})
            sampler = Sampler(pids)
            sampler.start()
            stack.callback(sampler.stop)
            await asyncio.sleep(2)  # a quiet baseline: what the idle daemon and Asterisk cost
            idle = sampler.sample()
            if opts.idle > 0:
                say(f"idle phase: {opts.idle:g} s logged in with no call (the daemon pings every {ping_interval:g} s)")
                idle_result = await measure_idle(daemon_pid, opts.idle, ping_interval)
                report["idle"] = idle_result.as_dict()
                targets.extend(idle_result.targets())
            for uac in uacs:
                uac.start()
                assert uac.pid is not None
                sampler.pids[f"sipp_{uac.label}"] = uac.pid
            began = time.monotonic()
            start = sampler.sample()
            soak_series = SoakSeries(sampler, "daemon", store_files, opts.sample_every, lambda: len(record.calls))
            soak_series.start()
            next_print = began + 10
            deadline = began + last_call_end + 30
            while any(s.running for s in uacs) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                catch_up()
                soak_series.point()
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
                soak_series.point()
                if record.active:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= 5:
                    break
            catch_up()
            soak_series.point(force=True)
            end = sampler.sample()
            report["daemon_metrics"] = daemon_metrics(STATUS_PORT)
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
        if references:
            report["references"] = reference_report(stop_references(references), report, start, end, sampler)
        report["sipp"] = {s.label: {"log": s.event_counts(), "stats": s.stats(), "exit": s.returncode} for s in sipps}
        report["queue_log"] = queue_log_counts(sandbox.queue_log_path)
        report["asterisk_warnings"] = asterisk_warnings(sandbox.log_path)
        # The same interval for both (calls and settle), from the same two samples.
        report["cpu_ratio"], ratio = ratio_report(end.get("daemon", d1).cpu - d0.cpu, a1.cpu - a0.cpu)
        report["soak"], soak = soak_report(soak_series.points, opts.duration, opts.sample_every, opts.drop_ratio)
        targets[:0] = [ratio]
        targets.append(soak)
        report["targets"] = [t.as_dict() for t in targets]
        report["targets_missed"] = [t.name for t in missed(targets)]
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
    parser.add_argument(
        "--idle",
        type=float,
        default=d.idle,
        help="seconds the logged-in daemon is watched with no call, before the calls (default 30; 0: none)",
    )
    parser.add_argument(
        "--sample-every",
        type=float,
        default=d.sample_every,
        help="seconds between the soak's samples of RSS and store size (default 10)",
    )
    parser.add_argument(
        "--references",
        action="store_true",
        help="also run two AMI clients that only listen (bench/ami_readers.py) and print the daemon's CPU "
        "against theirs; Asterisk then serves three AMI sessions, so its own figure rises",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (SIPp and daemon logs)")
    parser.add_argument("--no-results", dest="results", action="store_false", help="write no JSON file")
    args = parser.parse_args(argv)
    if args.idle < 0 or args.sample_every <= 0:
        parser.error("--idle must be 0 or more and --sample-every more than 0")
    opts = Options(
        cps=args.cps,
        duration=args.duration,
        drop_ratio=args.drop_ratio,
        talk=args.talk,
        rtp_timeout=args.rtp_timeout,
        agents=args.agents,
        agent_rtp=args.agent_rtp,
        idle=args.idle,
        sample_every=args.sample_every,
        keep=args.keep,
        references=args.references,
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
    return exit_code(report)


if __name__ == "__main__":
    sys.exit(main())
