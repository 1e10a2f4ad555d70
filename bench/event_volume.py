"""AMI events per queue call on the sandbox PBX, as sessions with and without the daemon's Events mask
and event filter receive them.

    .venv/bin/python -m bench.event_volume            # 2 rounds of 3 calls
    .venv/bin/python -m bench.event_volume --rounds 5

One sandbox Asterisk (its own ports), one SIPp agent, and several AMI sessions logged in at once,
so every session sees the very same calls:

  all        a read=all user, `Events: on`: everything Asterisk publishes
  perm       the daemon's permissions (read = call,agent), `Events: on`, no filter
  mask       the same, with the daemon's login mask (redial.ami.connection.LOGIN_EVENTS)
  action     mask + an AMI `Filter` action per event name the daemon reads (may be refused:
             the Filter action needs the `system` write permission, which the daemon's user lacks)
  conffilter mask + `eventfilter` lines in manager.conf, one per event name the daemon reads
  shipped    the shipped [redial] user (config/manager_redial.conf as it is), with the login mask

Each round places three standard queue calls one after the other, each answered by the agent:
the customer hangs up; the customer's RTP stops (rtp_timeout drop); the carrier sends BYE with
Q.850 cause 41. The daemon is not running (no redial follows the drops), and the dialplan's
returning-caller AGI points at a closed port, so it fails fast and the call goes on to the queue.
Prints events (and bytes) per call for each session and the reduction against `perm`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from bench.live_rig import load_sandbox
from bench.machine import machine, now_utc, result_path
from redial.ami.connection import LOGIN_EVENTS
from sandbox import SHIPPED_MANAGER, AgentPhone, customer_call
from sandbox.observer import AmiError, AmiMessage, AmiObserver

try:
    from redial.ami.events import NEEDED_EVENTS
except ImportError:  # TODO: drop once redial.ami.events.NEEDED_EVENTS is committed everywhere
    NEEDED_EVENTS = frozenset(
        {
            "Newchannel",
            "Hangup",
            "HangupRequest",
            "SoftHangupRequest",
            "QueueCallerJoin",
            "AgentConnect",
            "AgentComplete",
            "DialEnd",
            "BridgeEnter",
            "BlindTransfer",
            "AttendedTransfer",
            "OriginateResponse",
            "QueueMemberStatus",
            "QueueMember",
            "QueueMemberAdded",
            "QueueMemberPause",
            "QueueMemberRemoved",
            "DeviceStateChange",
            "FullyBooted",
        }
    )

AMI_PORT = 15348
SIP_PORT = 15370
RTP_PORTS = (25000, 25999)
AGENT_PORT = 15421
CUSTOMER_PHONE_PORT = 15429  # nobody: no redial is made
CUSTOMER_UAC_PORT = 15422
CUSTOMER_MEDIA_PORT = 18500
CLOSED_AGI_PORT = 4674
DID = "100"
CALLS: tuple[tuple[str, Literal["hangup", "rtp_drop", "bye_q850"]], ...] = (
    ("customer hangs up", "hangup"),
    ("RTP timeout drop", "rtp_drop"),
    ("BYE cause 41", "bye_q850"),
)


def eventfilter_lines(names: Sequence[str]) -> str:
    """manager.conf lines that let only these events through (a regex each, on the event text)."""
    return "".join(f"eventfilter = Event: {name}\n" for name in sorted(names))


def manager_conf(workdir: Path, perm_secret: str, filtered_secret: str) -> Path:
    """The shipped manager conf plus two users with the daemon's permissions: one without any
    filter, one with eventfilter lines for the daemon's events."""
    shipped = SHIPPED_MANAGER.read_text(encoding="utf-8")
    user = (
        "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\nread = call,agent\n"
        "write = originate,agent,reporting\n"
    )
    extra = (
        f"\n[perm]\nsecret = {perm_secret}\n{user}"
        f"\n[conffilter]\nsecret = {filtered_secret}\n{user}{eventfilter_lines(sorted(NEEDED_EVENTS))}"
    )
    path = workdir / "manager_redial.conf"
    path.write_text(shipped + extra, encoding="utf-8")
    return path


class Session(AmiObserver):
    """An AMI session that logs in with an `Events:` header, optionally adds Filter actions, and
    counts what it receives."""

    def __init__(
        self, label: str, host: str, port: int, username: str, secret: str, events: str, filters: Sequence[str] = ()
    ) -> None:
        super().__init__(host, port, username, secret)
        self.label = label
        self.login_events = events
        self.filters = tuple(filters)
        self.filter_error = ""

    async def connect(self, timeout: float = 10.0) -> None:
        self._cond = asyncio.Condition()
        reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        self._reader = reader
        banner = await asyncio.wait_for(reader.readline(), timeout)
        if not banner.startswith(b"Asterisk Call Manager"):
            raise AmiError(f"not an AMI banner: {banner!r}")
        self._task = asyncio.create_task(self._read_loop(), name=f"ami-{self.label}")
        reply = await self.action(
            {"Action": "Login", "Username": self.username, "Secret": self.secret, "Events": self.login_events},
            timeout=timeout,
            check=False,
        )
        if reply.get("Response") != "Success":
            await self.close()
            raise AmiError(f"{self.label}: login as {self.username} refused: {dict(reply)}")
        for name in self.filters:
            reply = await self.action({"Action": "Filter", "Operation": "Add", "Filter": f"Event: {name}"}, check=False)
            if reply.get("Response") != "Success":
                self.filter_error = reply.get("Message", str(dict(reply)))
                break


def _size(msg: AmiMessage) -> int:
    """Bytes on the wire, near enough: `Key: value\\r\\n` per header and the blank line."""
    return sum(len(k) + len(v) + 4 for k, v in msg.items()) + 2


async def _idle(watch: AmiObserver, start: int, quiet: float = 1.5, timeout: float = 60.0) -> None:
    """Wait until every channel created since `start` has hung up, then `quiet` s more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        up: set[str] = set()
        for msg in watch.events[start:]:
            if msg.get("Event") == "Newchannel":
                up.add(msg.get("Uniqueid", ""))
            elif msg.get("Event") == "Hangup":
                up.discard(msg.get("Uniqueid", ""))
        seen = len(watch.events)
        if not up and seen > start:
            await asyncio.sleep(quiet)
            if len(watch.events) == seen:
                return
        await asyncio.sleep(0.3)
    raise AssertionError(f"the PBX did not go idle within {timeout} s")


async def run(rounds: int, out: Any = sys.stdout) -> dict[str, Any]:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="redial-event-volume-"))
    perm_secret, filtered_secret = secrets.token_hex(12), secrets.token_hex(12)
    sandbox = load_sandbox(
        1,
        rtp_timeout=3,
        ami_port=AMI_PORT,
        sip_port=SIP_PORT,
        rtp_ports=RTP_PORTS,
        agents_port=AGENT_PORT,
        customer_phone_port=CUSTOMER_PHONE_PORT,
        fastagi_port=CLOSED_AGI_PORT,
        manager_conf=manager_conf(workdir, perm_secret, filtered_secret),
    )
    report: dict[str, Any] = {
        "date": now_utc(),
        "machine": machine(),
        "rounds": rounds,
        "login_events": LOGIN_EVENTS,
        "needed_events": sorted(NEEDED_EVENTS),
    }
    with contextlib.ExitStack() as stack:
        stack.callback(sandbox.stop)
        await asyncio.to_thread(sandbox.start)
        report["asterisk_version"] = sandbox.cli("core show version").strip()
        agent = AgentPhone(
            "agent1", AGENT_PORT, ring_delay=0.3, max_calls=10 * rounds + 10, max_time=600, pbx_port=SIP_PORT
        )
        stack.callback(agent.stop)
        agent.start()
        host, port = sandbox.ami_host, sandbox.ami_port
        needed = sorted(NEEDED_EVENTS)
        sessions = [
            Session("all", host, port, *sandbox.observer_credentials, events="on"),
            Session("perm", host, port, "perm", perm_secret, events="on"),
            Session("mask", host, port, "perm", perm_secret, events=LOGIN_EVENTS),
            Session("action", host, port, "perm", perm_secret, events=LOGIN_EVENTS, filters=needed),
            Session("conffilter", host, port, "conffilter", filtered_secret, events=LOGIN_EVENTS),
            Session("shipped", host, port, sandbox.ami_username, sandbox.ami_secret, events=LOGIN_EVENTS),
        ]
        for s in sessions:
            await s.connect()
        try:
            watch = sessions[0]
            await asyncio.sleep(2)
            marks = {s.label: s.mark() for s in sessions}
            await asyncio.sleep(3)
            idle_counts = {s.label: len(s.events) - marks[s.label] for s in sessions}
            per_kind: dict[str, dict[str, list[int]]] = {s.label: {} for s in sessions}
            per_kind_test: dict[str, list[list[int]]] = {s.label: [] for s in sessions}
            for r in range(rounds):
                for i, (label, mode) in enumerate(CALLS):
                    marks = {s.label: s.mark() for s in sessions}
                    call = customer_call(
                        f"21255{r:02d}{i:03d}",
                        mode,
                        did=DID,
                        sip_port=SIP_PORT,
                        talk_time=2,
                        cause=41,
                        max_time=25,
                        local_port=CUSTOMER_UAC_PORT,
                        media_port=CUSTOMER_MEDIA_PORT,
                    )
                    try:
                        await call.async_wait(30)
                        await _idle(watch, marks["all"])
                    finally:
                        call.stop()
                    for s in sessions:
                        got = s.events[marks[s.label] :]
                        per_kind[s.label].setdefault(label, []).extend([len(got), sum(map(_size, got))])
                        per_kind_test[s.label].append([sum(1 for m in got if m.get("Event") == "TestEvent")])
                    say(
                        f"  round {r + 1} {label}: "
                        + ", ".join(f"{s.label} {len(s.events) - marks[s.label]}" for s in sessions)
                    )
            calls = rounds * len(CALLS)
            results: dict[str, dict[str, Any]] = {}
            for s in sessions:
                # Events of the calls only (the login's own FullyBooted etc. came before the marks).
                counts = [v for kind in per_kind[s.label].values() for v in kind[0::2]]
                sizes = [v for kind in per_kind[s.label].values() for v in kind[1::2]]
                names = Counter(m.get("Event", "?") for m in s.events)  # the whole session, logins too
                test_events = sum(v for kind in per_kind_test[s.label] for v in kind)
                results[s.label] = {
                    "events_per_call": round(sum(counts) / calls, 1),
                    # TestEvent frames come from the Debian build's test framework; a production
                    # build publishes none.
                    "test_events_per_call": round(test_events / calls, 1),
                    "bytes_per_call": round(sum(sizes) / calls),
                    "by_call": {k: round(sum(v[0::2]) / rounds, 1) for k, v in per_kind[s.label].items()},
                    "idle_events_3s": idle_counts[s.label],
                    "filter_error": s.filter_error,
                    "event_names": dict(names.most_common()),
                }
            base = results["perm"]["events_per_call"]
            for r_ in results.values():
                r_["reduction_vs_perm"] = round(base / r_["events_per_call"], 2) if r_["events_per_call"] else None
            report["sessions"] = results
        finally:
            for s in sessions:
                await s.close()
    path = result_path("event_volume")
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_summary(report, out)
    say(f"  figures written to {path}")
    return report


def print_summary(report: Mapping[str, Any], out: Any = sys.stdout) -> None:
    rows = report["sessions"]
    print("", file=out)
    kinds = [k for k, _ in CALLS]
    print(
        f"  {'session':<11} {'events/call':>11} {'bytes/call':>10} {'x fewer':>8}  "
        + "  ".join(f"{k:>17}" for k in kinds),
        file=out,
    )
    for label, r in rows.items():
        ratio = f"{r['reduction_vs_perm']:.2f}" if r["reduction_vs_perm"] else "-"
        print(
            f"  {label:<11} {r['events_per_call']:>11} {r['bytes_per_call']:>10} {ratio:>8}  "
            + "  ".join(f"{r['by_call'].get(k, 0):>17}" for k in kinds),
            file=out,
        )
    for label, r in rows.items():
        if r["filter_error"]:
            print(f"  {label}: the Filter action was refused: {r['filter_error']}", file=out)
    for label, r in rows.items():
        if r["test_events_per_call"]:
            print(
                f"  {label}: {r['test_events_per_call']} of its events per call are TestEvent (the Debian "
                "build's test framework; none in a production build)",
                file=out,
            )
    extra = sorted(set(rows["conffilter"]["event_names"]) - set(report["needed_events"]))
    if extra:
        print(f"  conffilter let through events the daemon does not read: {extra}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.event_volume", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three calls (default 2)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(max(1, args.rounds)))
    except KeyboardInterrupt:
        print("interrupted: Asterisk and SIPp were stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
