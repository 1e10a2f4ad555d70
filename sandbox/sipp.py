"""SIPp user agents for the sandbox: agents' phones, the customer's phone, customers calling in.

Every SIPp runs as a child process bound to 127.0.0.1 (SIP, media and its control socket), in its
own work directory holding the rendered scenario, a u-law silence file and its logs, and is
bounded in calls (-m) and time (-timeout), so it ends by itself even if a test forgets it.

The scenarios (scenarios/*.xml) are templates: `@NAME@` placeholders are filled in here (ring
delay, talk time, BYE headers...). They write one `<log>` line per event; a reader thread tails
that log and stamps each line with time.monotonic() as it arrives, so tests can tell what a
phone saw (From of each INVITE) and when.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from .asterisk_conf import DEFAULT_AGENT_PORTS, DEFAULT_CUSTOMER_PHONE_PORT, DEFAULT_SIP_PORT, LOCALHOST

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SIPP = "sipp"
AUDIO_FILE = "silence.ulaw"
# Customers' UAC ports are taken from this range, round robin, skipping ports in use.
CUSTOMER_CALL_PORTS = range(15070, 15100)
WORK_BASE = Path(tempfile.gettempdir()) / "redial-sipp"

PhoneMode = Literal["answer", "silent", "noanswer", "busy"]
CallMode = Literal["rtp_drop", "bye_q850", "hangup", "wait_for_bye"]


class SippError(RuntimeError):
    """SIPp is missing, failed to start, or a wait on it timed out."""


def sipp_available() -> bool:
    return shutil.which(SIPP) is not None


def media_port_for(sip_port: int) -> int:
    """A distinct media port per SIPp: 16000 + 10 * (sip_port - 15060) (it uses mp and mp+2)."""
    return 16000 + 10 * (sip_port - DEFAULT_SIP_PORT)


def write_silence(path: Path, seconds: float = 2.0) -> None:
    """Raw G.711 u-law silence (0xFF bytes, 8000 per second), what rtp_stream loops."""
    path.write_bytes(b"\xff" * int(8000 * seconds))


def _udp_port_free(port: int) -> bool:
    """No UDP socket bound to the port (read from /proc/net/udp: binding a probe socket could
    race with the SIPp that is about to bind it)."""
    suffix = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as fh:
                next(fh, None)  # header
                for line in fh:
                    cols = line.split()
                    if len(cols) > 1 and cols[1].endswith(suffix):
                        return False
        except OSError:
            continue
    return True


def render_scenario(template: str, values: Mapping[str, str]) -> str:
    """Fill `@NAME@` placeholders; refuse to leave any unfilled."""
    text = (SCENARIO_DIR / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise SippError(f"{template}: placeholders not filled: {sorted(set(left))}")
    return text


@dataclass(frozen=True)
class SippEvent:
    """One `<log>` line of a scenario: kind (INVITE, ANSWERED, BYE_RECEIVED...), its call."""

    kind: str
    call_id: str
    received: float  # time.monotonic() when the line was read (within ~20 ms of SIPp's write)
    fields: tuple[str, ...] = ()


_NAME_ADDR = re.compile(r'^\s*(?:"(?P<q>[^"]*)"|(?P<t>[^<]*?))\s*<(?P<uri>[^>]*)>')


@dataclass(frozen=True)
class InviteRecord:
    """An INVITE a phone received: its headers as they arrived, and when."""

    call_id: str
    request_uri: str
    from_header: str
    to_header: str
    pai_header: str
    received: float  # time.monotonic()

    @staticmethod
    def _user(value: str) -> str:
        match = _NAME_ADDR.match(value)
        uri = match.group("uri") if match else value.strip().split(";")[0]
        return uri.split(":", 1)[-1].split("@", 1)[0]

    @staticmethod
    def _name(value: str) -> str:
        match = _NAME_ADDR.match(value)
        if not match:
            return ""
        return (match.group("q") if match.group("q") is not None else match.group("t")).strip()

    @property
    def from_user(self) -> str:
        """The user part of the From URI: the caller ID number the phone shows."""
        return self._user(self.from_header)

    @property
    def from_name(self) -> str:
        """The From display name: the caller ID name the phone shows."""
        return self._name(self.from_header)

    @property
    def to_user(self) -> str:
        return self._user(self.to_header)


@dataclass
class _LogTail:
    """Reads a growing SIPp log file from a thread and parses its lines into SippEvents.

    The thread ends by itself once `alive()` turns false (SIPp exited), after a last read.
    """

    path: Path
    alive: Callable[[], bool]
    events: list[SippEvent] = field(default_factory=list)
    _offset: int = 0
    _partial: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"tail {self.path}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.poll()  # whatever was written last

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            running = self.alive()
            self.poll()
            if not running:
                return

    def poll(self) -> None:
        # The tail thread and a test reading `events` both poll: the offset is read and
        # moved under one lock, or both would read (and count) the same lines.
        with self._lock:
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(self._offset)
                    data = fh.read()
            except FileNotFoundError:
                return
            if not data:
                return
            now = time.monotonic()
            self._offset += len(data)
            text = self._partial + data.decode("utf-8", errors="replace")
            *lines, self._partial = text.split("\n")
            for line in lines:
                parts = line.rstrip("\r").split("|")
                if len(parts) >= 2 and parts[0].isupper():
                    self.events.append(SippEvent(parts[0], parts[1], now, tuple(parts[2:])))

    def snapshot(self) -> list[SippEvent]:
        with self._lock:
            return list(self.events)


class SippProcess:
    """One SIPp child process with its work directory and event log."""

    _counter = itertools.count(1)

    def __init__(
        self,
        label: str,
        template: str,
        values: Mapping[str, str],
        *,
        sip_port: int,
        media_port: int,
        service: str,
        max_calls: int,
        max_time: float,
        remote: str | None = None,
    ) -> None:
        self.label = label
        self.sip_port = sip_port
        self.media_port = media_port
        self.max_time = max_time
        WORK_BASE.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{label}-{next(self._counter)}-", dir=WORK_BASE))
        write_silence(self.workdir / AUDIO_FILE)
        self.scenario = self.workdir / template
        self.scenario.write_text(render_scenario(template, {"AUDIO": AUDIO_FILE, **values}), encoding="utf-8")
        self.log_path = self.workdir / "events.log"
        self.screen_path = self.workdir / "screen.log"
        self.errors_path = self.workdir / "errors.log"
        self.messages_path = self.workdir / "messages.log"  # every SIP message, for debugging
        self.cmd = [
            SIPP,
            "-sf",
            str(self.scenario),
            "-i",
            LOCALHOST,
            "-p",
            str(sip_port),
            "-mi",
            LOCALHOST,
            "-mp",
            str(media_port),
            "-ci",
            LOCALHOST,  # the control socket too stays on loopback
            "-s",
            service,
            "-m",
            str(max_calls),
            "-timeout",
            f"{max(1, round(max_time))}s",  # 0 would mean no limit
            "-aa",  # answer in-dialog UPDATE/INFO/OPTIONS/NOTIFY with 200
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(self.log_path),
            "-trace_err",
            "-error_file",
            str(self.errors_path),
            "-trace_msg",
            "-message_file",
            str(self.messages_path),
        ]
        if remote:
            self.cmd.append(remote)
        self._tail = _LogTail(self.log_path, lambda: self.running)
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start SIPp; a no-op if this process was started already (customer_call starts it)."""
        if self._proc is not None:
            return
        if not sipp_available():
            raise SippError("sipp is not installed (Debian package sip-tester)")
        if not _udp_port_free(self.sip_port):
            raise SippError(f"{self.label}: UDP {LOCALHOST}:{self.sip_port} is already in use")
        with open(self.screen_path, "wb") as screen:
            self._proc = subprocess.Popen(
                self.cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=screen,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started_at = time.monotonic()
        self._tail.start()
        # SIPp exits at once on a bad scenario or a busy port: report that here, not later.
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._tail.stop()
                raise SippError(
                    f"{self.label}: sipp exited with {self._proc.returncode} at start\n{self.diagnostics()}"
                )
            if self._bound():
                break
            time.sleep(0.01)

    def _bound(self) -> bool:
        return not _udp_port_free(self.sip_port)

    def stop(self) -> None:
        """Stop SIPp now (SIGTERM, then SIGKILL). Safe to call twice."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._tail.stop()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for SIPp to exit by itself (default: its own -timeout plus a margin)."""
        if self._proc is None:
            raise SippError(f"{self.label} was never started")
        limit = timeout if timeout is not None else self.max_time + 5
        try:
            code = self._proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            raise SippError(f"{self.label} still running after {limit:.1f} s") from None
        self._tail.stop()
        return code

    async def async_wait(self, timeout: float | None = None) -> int:
        """wait() for use inside asyncio tests: polls, so the event loop keeps running."""
        if self._proc is None:
            raise SippError(f"{self.label} was never started")
        limit = timeout if timeout is not None else self.max_time + 5
        deadline = time.monotonic() + limit
        while self._proc.poll() is None:
            if time.monotonic() > deadline:
                raise SippError(f"{self.label} still running after {limit:.1f} s\n" + self.diagnostics())
            await asyncio.sleep(0.05)
        self._tail.stop()
        return self._proc.returncode

    @property
    def returncode(self) -> int | None:
        """SIPp's exit status: 0 all calls succeeded, 1 some failed, 97/99 stopped early,
        255 fatal; None while running."""
        return None if self._proc is None else self._proc.poll()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def remove_workdir(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SippProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- what happened -----------------------------------------------------------------
    @property
    def events(self) -> list[SippEvent]:
        self._tail.poll()
        return self._tail.snapshot()

    def events_of(self, kind: str) -> list[SippEvent]:
        return [e for e in self.events if e.kind == kind]

    async def wait_for_event(self, kind: str, count: int = 1, timeout: float = 10.0) -> SippEvent:
        """Wait until `count` events of `kind` were logged; return the count-th one."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events_of(kind)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.label}: {len(found)} {kind} event(s) after {timeout} s, wanted "
                    f"{count}; events: {[(e.kind, e.call_id) for e in self.events]}\n" + self.diagnostics()
                )
            await asyncio.sleep(0.02)

    def diagnostics(self, lines: int = 15) -> str:
        """The tail of SIPp's error log and screen, for failure messages."""
        out = [f"{self.label}: {' '.join(self.cmd)} (exit {self.returncode}, in {self.workdir})"]
        for path in (self.errors_path, self.screen_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
            tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
            if tail:
                out.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(out)


class Phone(SippProcess):
    """A SIP phone Asterisk calls (UAS). It records every INVITE's headers and arrival time.

    mode: answer (after ring_delay s, stream RTP until BYE, or send BYE after hangup_after s),
    silent (answer like that but send no RTP: a softphone whose media died),
    noanswer (ring until CANCEL), busy (486 after ring_delay s). Handles calls one after another,
    up to max_calls, for at most max_time seconds.
    """

    def __init__(
        self,
        label: str,
        port: int,
        *,
        user: str,
        mode: PhoneMode = "answer",
        ring_delay: float = 1.0,
        hangup_after: float | None = None,
        media_port: int | None = None,
        max_calls: int = 100,
        max_time: float = 600.0,
        pbx_host: str = LOCALHOST,
        pbx_port: int = DEFAULT_SIP_PORT,
    ) -> None:
        templates = {
            "answer": "phone_answer.xml",
            "silent": "phone_answer.xml",
            "noanswer": "phone_noanswer.xml",
            "busy": "phone_busy.xml",
        }
        if mode not in templates:
            raise ValueError(f"unknown phone mode {mode!r}")
        ring_ms = max(1, round(ring_delay * 1000))  # a recv timeout of 0 would mean "none"
        bye_wait = (
            f'timeout="{max(1, round(hangup_after * 1000))}" ontimeout="hangup"' if hangup_after is not None else ""
        )
        self.mode = mode
        self.user = user
        # silent: answers, then sends no RTP (its endpoint's rtp_timeout drops the call).
        media = "" if mode == "silent" else f'<exec rtp_stream="{AUDIO_FILE},-1,0"/>'
        super().__init__(
            label,
            templates[mode],
            {"RING_MS": str(ring_ms), "BYE_WAIT": bye_wait, "MEDIA": media},
            sip_port=port,
            media_port=media_port or media_port_for(port),
            service=user,
            max_calls=max_calls,
            max_time=max_time,
            # Where a BYE of its own goes ([remote_ip]:[remote_port] are empty
            # in a UAS otherwise).
            remote=f"{pbx_host}:{pbx_port}",
        )

    @property
    def invites(self) -> list[InviteRecord]:
        out: list[InviteRecord] = []
        for ev in self.events_of("INVITE"):
            ruri, frm, to, pai = ([*list(ev.fields), "", "", "", ""])[:4]
            out.append(
                InviteRecord(
                    ev.call_id, ruri.removeprefix("INVITE ").strip(), frm.strip(), to.strip(), pai.strip(), ev.received
                )
            )
        return out

    async def wait_for_invite(self, count: int = 1, timeout: float = 10.0) -> InviteRecord:
        """Wait for the count-th INVITE (counting from the phone's start) and return it."""
        await self.wait_for_event("INVITE", count, timeout)
        return self.invites[count - 1]


class AgentPhone(Phone):
    """An agent's phone: the UAS behind PJSIP/<name> (agent1, agent2, agent3)."""

    def __init__(
        self,
        name: str,
        port: int | None = None,
        *,
        mode: PhoneMode = "answer",
        ring_delay: float = 1.0,
        hangup_after: float | None = None,
        max_calls: int = 100,
        max_time: float = 600.0,
        pbx_port: int = DEFAULT_SIP_PORT,
    ) -> None:
        if port is None:
            if name not in DEFAULT_AGENT_PORTS:
                raise ValueError(f"no default port for agent {name!r}: pass port=")
            port = DEFAULT_AGENT_PORTS[name]
        self.name = name
        super().__init__(
            f"agent-{name}",
            port,
            user=name,
            mode=mode,
            ring_delay=ring_delay,
            hangup_after=hangup_after,
            max_calls=max_calls,
            max_time=max_time,
            pbx_port=pbx_port,
        )


class CustomerPhone(Phone):
    """The customer's phone, reached by a redial through the trunk's static contact."""

    def __init__(
        self,
        port: int = DEFAULT_CUSTOMER_PHONE_PORT,
        *,
        mode: PhoneMode = "answer",
        ring_delay: float = 1.0,
        hangup_after: float | None = None,
        max_calls: int = 100,
        max_time: float = 600.0,
        pbx_port: int = DEFAULT_SIP_PORT,
    ) -> None:
        super().__init__(
            "customer-phone",
            port,
            user="customer",
            mode=mode,
            ring_delay=ring_delay,
            hangup_after=hangup_after,
            max_calls=max_calls,
            max_time=max_time,
            pbx_port=pbx_port,
        )


class CustomerCall(SippProcess):
    """One customer calling in (SIPp UAC, a single call). See customer_call()."""

    def __init__(
        self,
        number: str,
        mode: CallMode,
        *,
        did: str,
        sip_host: str,
        sip_port: int,
        talk_time: float,
        cause: int,
        max_time: float,
        caller_name: str,
        local_port: int | None,
        media_port: int | None,
        private: bool = False,
    ) -> None:
        # Digits with one optional leading +, or `anonymous`: a withheld caller ID
        # (RFC 3323: the From user is `anonymous`).
        if not re.fullmatch(r"\+?[0-9]{1,20}|anonymous", number):
            raise ValueError(f"customer number must be digits or 'anonymous': {number!r}")
        talk_ms = max(1, round(talk_time * 1000))
        # After the answer: how long until we hang up, or until we give up waiting for a BYE.
        wait_ms = max(1, round((max_time - 2) * 1000))
        values = {
            "CALLER": number,
            "CALLER_NAME": caller_name,
            "MEDIA": f'<exec rtp_stream="{AUDIO_FILE},-1,0"/>' if mode != "rtp_drop" else "",
            "TALK": {
                "rtp_drop": f'timeout="{wait_ms}" ontimeout="giveup"',
                "wait_for_bye": f'timeout="{wait_ms}" ontimeout="giveup"',
                "hangup": f'timeout="{talk_ms}" ontimeout="hangup"',
                "bye_q850": f'timeout="{talk_ms}" ontimeout="hangup"',
            }[mode],
            "BYE_HEADERS": f"      Reason: Q.850;cause={cause}\n" if mode == "bye_q850" else "",
            # A restricted presentation: the number only in P-Asserted-Identity, with Privacy: id.
            "INVITE_HEADERS": (
                f"      P-Asserted-Identity: <sip:{number}@{LOCALHOST}>\n      Privacy: id\n" if private else ""
            ),
        }
        port = local_port if local_port is not None else _next_customer_port()
        self.mode = mode
        self.number = number
        super().__init__(
            f"customer-{number}-{mode}",
            "customer_call.xml",
            values,
            sip_port=port,
            media_port=media_port or media_port_for(port),
            service=did,
            max_calls=1,
            max_time=max_time,
            remote=f"{sip_host}:{sip_port}",
        )

    @property
    def call_id(self) -> str | None:
        """SIP Call-ID of the call: SIPp numbers them `<call number>-<pid>@<local ip>`."""
        return None if self._proc is None else f"1-{self._proc.pid}@{LOCALHOST}"

    @property
    def gave_up(self) -> bool:
        """True if the far end never hung up and the call ended by our own BYE at max_time."""
        return bool(self.events_of("GAVE_UP"))


_port_lock = threading.Lock()
_port_cycle = itertools.cycle(CUSTOMER_CALL_PORTS)


def _next_customer_port() -> int:
    with _port_lock:
        for _ in CUSTOMER_CALL_PORTS:
            port = next(_port_cycle)
            if _udp_port_free(port):
                return port
    raise SippError(f"no free UDP port in {CUSTOMER_CALL_PORTS} for a customer call")


def customer_call(
    number: str = "5551234",
    mode: CallMode = "hangup",
    *,
    did: str = "100",
    sip_host: str = LOCALHOST,
    sip_port: int = DEFAULT_SIP_PORT,
    talk_time: float = 3.0,
    cause: int = 41,
    max_time: float = 30.0,
    caller_name: str = "Customer",
    local_port: int | None = None,
    media_port: int | None = None,
    private: bool = False,
) -> CustomerCall:
    """Start a customer's call from `number` to `did` at the sandbox; returns the started call.

    `number` is digits (one optional leading +), or `anonymous` for a withheld caller ID.
    Modes, after Asterisk answers:
      rtp_drop      send no RTP, so the trunk's rtp_timeout drops the call; wait for the BYE
      bye_q850      stream RTP, after talk_time s send BYE with `Reason: Q.850;cause=<cause>`
      hangup        stream RTP, after talk_time s send a plain BYE
      wait_for_bye  stream RTP until the other side hangs up
    `private` restricts the presentation (Privacy: id, the number in P-Asserted-Identity).
    A call the far end has not ended by max_time - 2 s is hung up (gave_up is then True);
    SIPp itself stops at max_time.
    """
    call = CustomerCall(
        number,
        mode,
        did=did,
        sip_host=sip_host,
        sip_port=sip_port,
        talk_time=talk_time,
        cause=cause,
        max_time=max_time,
        caller_name=caller_name,
        local_port=local_port,
        media_port=media_port,
        private=private,
    )
    call.start()
    return call
