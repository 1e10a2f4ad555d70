"""``make demo``: the main job on the sandbox PBX, narrated as it happens.

Boots the sandbox Asterisk 22, runs ``redial run`` with config/redial.yaml
(pointed at the sandbox, a temporary store and a 5 s callback window), places a
customer call through the queue that agent Alice answers, lets the customer's
media stop so Asterisk drops the call (RTP timeout), and prints what the PBX and
the daemon do until the redial has connected agent and customer again.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox import AgentPhone, AmiObserver, CustomerPhone, customer_call
from sandbox.daemon import DaemonProcess, daemon_config
from sandbox.observer import AmiMessage
from sandbox.shared import shared_sandbox

WINDOW = 5
CUSTOMER = "5551234"


def _say(who: str, text: str, started: float) -> None:
    print(f"[{time.monotonic() - started:5.1f}s] {who:6} {text}", flush=True)


def _describe_pbx(msg: AmiMessage, redial_ids: set[str]) -> str | None:
    name = msg.get("Event")
    channel = msg.get("Channel", "")
    uid = msg.get("Uniqueid", "")
    linked = msg.get("Linkedid", "")
    # An Originate's first-leg DialEnd names only the Dest channel.
    is_redial = linked in redial_ids or uid.startswith("redial-") or msg.get("DestLinkedid", "") in redial_ids
    if name == "Newchannel" and uid.startswith("redial-"):
        redial_ids.add(uid)
        return f"redial {uid}: ringing the agent's phone {channel.rsplit('-', 1)[0]} first"
    if name == "QueueCallerJoin":
        return f"customer {msg.get('CallerIDNum')} called {msg.get('Exten')} and waits in queue {msg.get('Queue')}"
    if name == "AgentConnect":
        return f"agent {msg.get('MemberName')} ({msg.get('Interface')}) answered the queue call"
    if name == "SoftHangupRequest" and msg.get("Cause") == "1":
        return f"{channel}: the customer's media stopped; the channel driver hangs up (RTP timeout)"
    if name == "HangupRequest" and not is_redial:
        return f"{channel} asked to hang up" + (f" with cause {msg['Cause']}" if msg.get("Cause") else "")
    if name == "Hangup" and channel.startswith("PJSIP/trunk-") and not is_redial:
        return f"customer's call ended: cause {msg.get('Cause')} ({msg.get('Cause-txt')})"
    if name == "DialEnd" and is_redial and msg.get("DialStatus") == "ANSWER":
        if msg.get("DestUniqueid", "").startswith("redial-"):
            return "the agent answered the redial"
        return "the customer answered the redial"
    if name == "Newchannel" and is_redial and channel.startswith("PJSIP/trunk-"):
        return f"redial: now dialling the customer through {channel.rsplit('-', 1)[0]}"
    if name == "BridgeEnter" and is_redial and msg.get("BridgeNumChannels") == "2":
        return "agent and customer are bridged: the call is recovered"
    return None


def _describe_daemon(record: dict[str, object]) -> str | None:
    event = record.get("event")
    if event == "decision":
        return f"decision on call {record.get('linkedid')}: {record.get('decision')} ({record.get('detail')})"
    if event == "redial":
        outcome = f", outcome {record['outcome']}" if record.get("outcome") else ""
        return f"redial {record.get('redial_id')}: {record.get('state')}{outcome}: {record.get('detail')}"
    return None


async def _demo(workdir: Path) -> int:
    started = time.monotonic()
    with shared_sandbox() as sandbox:
        _say("setup", f"sandbox Asterisk 22 up in {sandbox.start_seconds or 0:.1f} s (AMI {sandbox.ami_port})", started)
        agent = AgentPhone("agent1", ring_delay=1.0, max_time=90)
        customer_phone = CustomerPhone(ring_delay=1.5, hangup_after=4, max_time=90)
        agent.start()
        customer_phone.start()
        config = daemon_config(sandbox, workdir, callback_window=WINDOW)
        daemon = DaemonProcess(config, workdir / "redial.log")
        try:
            async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as obs:
                await asyncio.to_thread(daemon.start)
                _say("setup", f"redial daemon running with config/redial.yaml (callback window {WINDOW} s)", started)
                _say("setup", f"customer {CUSTOMER} calls 100; their phone will stop sending audio", started)
                call = customer_call(CUSTOMER, "rtp_drop", did="100", max_time=30)
                seen_pbx = seen_daemon = 0
                redial_ids: set[str] = set()
                outcome = None
                deadline = time.monotonic() + 60
                while outcome is None and time.monotonic() < deadline:
                    for msg in obs.events[seen_pbx:]:
                        text = _describe_pbx(msg, redial_ids)
                        if text:
                            _say("PBX", text, started)
                    seen_pbx = len(obs.events)
                    records = daemon.records()
                    for record in records[seen_daemon:]:
                        text = _describe_daemon(record)
                        if text:
                            _say("redial", text, started)
                        if record.get("event") == "redial" and record.get("state") == "done":
                            outcome = str(record.get("outcome"))
                    seen_daemon = len(records)
                    await asyncio.sleep(0.2)
                call.stop()
        finally:
            code = await asyncio.to_thread(daemon.stop)
            agent.stop()
            customer_phone.stop()
        print("\n$ redial history", flush=True)
        subprocess.run([sys.executable, "-m", "redial.tools.cli", "history", "--config", str(config)], check=False)
    if outcome != "connected":
        print(f"\ndemo: the redial did not connect (outcome {outcome}); daemon log:\n{daemon.tail()}")
        return 1
    print(f"\ndemo: dropped call recovered; daemon stopped cleanly (exit {code}).")
    return 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="redial-demo-") as tmp:
        return asyncio.run(_demo(Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
