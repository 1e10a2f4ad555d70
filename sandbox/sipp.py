"""The sandbox's SIPp wrapper: one SIPp child process, its scenario, work directory and event log.

Every SIPp runs as a child process bound to 127.0.0.1 (SIP, media and its control socket), in its
own work directory holding the rendered scenario, a u-law silence file and its logs, and is
bounded in calls (-m) and time (-timeout), so it ends by itself even if a test forgets it. The
user agents built on it (agents' phones, the customer's phone, customers calling in, one or
many at a rate) are in phones.py.

The scenarios (scenarios/*.xml) are templates: `@NAME@` placeholders are filled in here (ring
delay, talk time, BYE headers...). They write one `<log>` line per event; a reader thread tails
that log and stamps each line with time.monotonic() as it arrives, so tests can tell what a
phone saw (From of each INVITE) and when.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from .asterisk_conf import DEFAULT_SIP_PORT, LOCALHOST

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SIPP = "sipp"
AUDIO_FILE = "silence.ulaw"
WORK_BASE = Path(tempfile.gettempdir()) / "redial-sipp"
# SIPp's cumulative statistics kept by stats(): calls made, how they ended, retransmissions.
STAT_COLUMNS = (
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


def udp_port_free(port: int) -> bool:
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


@dataclass(frozen=True)
class SippOptions:
    """How a SIPp runs beyond its scenario: where its work directory goes, what it traces.

    workdir: a fresh directory under WORK_BASE (None), or this one (created; must not exist).
    trace_messages: keep every SIP message in messages.log (for debugging; too costly under load).
    stats: write SIPp's statistics to stat.csv every 5 s, read back by stats().
    """

    workdir: Path | None = None
    trace_messages: bool = True
    stats: bool = False


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
        args: Sequence[str] = (),
        options: SippOptions | None = None,
    ) -> None:
        """`args` are a user agent's own SIPp arguments (rate, injection file), before `remote`."""
        opts = options or SippOptions()
        self.label = label
        self.sip_port = sip_port
        self.media_port = media_port
        self.max_time = max_time
        if opts.workdir is None:
            WORK_BASE.mkdir(parents=True, exist_ok=True)
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{label}-{next(self._counter)}-", dir=WORK_BASE))
        else:
            self.workdir = opts.workdir
            self.workdir.mkdir(parents=True)
        write_silence(self.workdir / AUDIO_FILE)
        self.scenario = self.workdir / template
        self.scenario.write_text(render_scenario(template, {"AUDIO": AUDIO_FILE, **values}), encoding="utf-8")
        self.log_path = self.workdir / "events.log"
        self.screen_path = self.workdir / "screen.log"
        self.errors_path = self.workdir / "errors.log"
        self.messages_path = self.workdir / "messages.log"  # every SIP message, for debugging
        self.stat_path = self.workdir / "stat.csv"
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
        ]
        if opts.trace_messages:
            self.cmd += ["-trace_msg", "-message_file", str(self.messages_path)]
        if opts.stats:
            self.cmd += ["-trace_stat", "-stf", str(self.stat_path), "-fd", "5"]
        self.cmd += args
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
        if not udp_port_free(self.sip_port):
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
        return not udp_port_free(self.sip_port)

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

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

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

    def event_counts(self) -> dict[str, int]:
        """How many of each kind of event (ANSWERED, BYE_RECEIVED, GAVE_UP...) so far."""
        return dict(Counter(e.kind for e in self.events))

    def stats(self) -> dict[str, str]:
        """The last row of SIPp's own statistics (SippOptions.stats), STAT_COLUMNS only."""
        try:
            with open(self.stat_path, newline="", errors="replace") as fh:
                rows = list(csv.reader(fh, delimiter=";"))
        except OSError:
            return {}
        if len(rows) < 2:
            return {}
        return {k: v for k, v in zip(rows[0], rows[-1], strict=False) if k in STAT_COLUMNS}

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
