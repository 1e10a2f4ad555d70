"""``redial doctor``: one-shot checks of the Asterisk side, each with a plain-language fix.

The checks are pure functions from what Asterisk answered to a :class:`Finding`;
:class:`PbxProbe` is the only part that talks to Asterisk, through pyst2's blocking
client (a short synchronous tool needs no event loop). :func:`diagnose` runs them
in order and hands each finding over as soon as it is known, so a slow PBX shows
progress instead of a silent terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import re
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redial.ami.events import NEEDED_EVENTS
from redial.ami.frames import split_recording
from redial.config import Settings
from redial.tools import pjsipconf

if TYPE_CHECKING:
    from redial.tools.freepbx import FreePbx

# The actions the daemon sends, with the write class each needs (ListCommands says).
NEEDED_ACTIONS: Mapping[str, str] = {
    "Originate": "originate",
    "QueuePause": "agent",
    "QueueLog": "agent",
    "CoreShowChannels": "reporting",
    "ExtensionState": "call",
    "CoreStatus": "reporting",
    "Status": "call",
    "QueueStatus": "none",
    "Ping": "none",
}
# The event classes the daemon reads.
NEEDED_READ = ("call", "agent")
# Dialplan applications the shipped contexts use, and the module behind each.
MODULES: Mapping[str, str] = {
    "app_queue": "Queue() and the queue members",
    "chan_pjsip": "the PJSIP channels of agents and trunks",
    "app_dial": "Dial() in [redial-out]",
    "app_playback": "the agent's prompt and the customer's greeting",
    "app_stack": "Gosub/Return: the greeting runs as Dial's U() gosub",
    "func_strings": "FILTER and REGEX, which check every value from AMI",
}
AGI_MODULE = ("res_agi", "AGI() in [redial-returning]")
# Versions whose Hangup events carry TechCause (the SIP response code).
_TECH_CAUSE_SINCE = {20: 17, 22: 7, 23: 1}
# Asterisk and this host are one machine or share NTP: more is a broken clock.
CLOCK_SKEW_WARN = 2.0
# A drop noticed later than this after the media stopped leaves the customer in silence long.
RTP_TIMEOUT_SLOW = 60
MANAGER_CONF_HINT = "config/manager_redial.conf"
EXTENSIONS_CONF_HINT = "config/extensions_redial.conf"


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIPPED = "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check: what was found and, when something is wrong, how to fix it."""

    check: str
    status: Status
    summary: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class Admin:
    """An optional second AMI user with the ``system`` (and ``command``) class for deeper checks."""

    username: str
    secret: str


class ProbeError(Exception):
    """Asterisk could not be reached or refused the login."""

    def __init__(self, summary: str, fix: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.fix = fix


# --- Pure checks ---------------------------------------------------------------------------


def check_permissions(username: str, allowed: Iterable[str]) -> Finding:
    """Every action the daemon sends must be in the user's ListCommands."""
    present = set(allowed)
    missing = [(action, cls) for action, cls in NEEDED_ACTIONS.items() if action not in present]
    if not missing:
        return Finding("permissions", Status.OK, f"{username} may send {', '.join(NEEDED_ACTIONS)}")
    classes = sorted({cls for _, cls in missing if cls != "none"})
    names = ", ".join(action for action, _ in missing)
    return Finding(
        "permissions",
        Status.FAIL,
        f"{username} may not send {names}",
        f"in manager.conf give [{username}] write = originate,call,agent,reporting"
        f" (missing: {', '.join(classes) or 'none'}), as in {MANAGER_CONF_HINT}; "
        'then asterisk -rx "manager reload"',
    )


def check_read_classes(username: str, read: Iterable[str]) -> Finding:
    """The user's read classes (from ``manager show user``) must cover the events the daemon reads."""
    have = {item.strip() for item in read}
    missing = [cls for cls in NEEDED_READ if cls not in have and "all" not in have]
    if not missing:
        return Finding("events", Status.OK, f"{username} reads {', '.join(NEEDED_READ)} events")
    return Finding(
        "events",
        Status.FAIL,
        f"{username} cannot read {', '.join(missing)} events: drops would never be seen",
        f'in manager.conf give [{username}] read = call,agent; then asterisk -rx "manager reload"',
    )


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``22.10.1+dfsg-1`` or ``certified/20.7-cert1`` as (22, 10, 1); None when unreadable."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def has_tech_cause(version: tuple[int, int, int]) -> bool:
    major, minor, _ = version
    if major in _TECH_CAUSE_SINCE:
        return minor >= _TECH_CAUSE_SINCE[major]
    return major > max(_TECH_CAUSE_SINCE)


def check_version(text: str) -> Finding:
    """What the Asterisk version implies for drop detection."""
    version = parse_version(text)
    if version is None:
        return Finding("asterisk", Status.WARN, f"cannot read the Asterisk version {text!r}")
    shown = ".".join(map(str, version))
    if version[0] < 20:
        return Finding(
            "asterisk",
            Status.WARN,
            f"Asterisk {shown} is past its end of life; redial is tested on 22",
            "upgrade to a supported Asterisk (20 or 22 LTS)",
        )
    if has_tech_cause(version):
        return Finding(
            "asterisk",
            Status.OK,
            f"Asterisk {shown}: Hangup events carry TechCause, the SIP code behind a drop",
        )
    return Finding(
        "asterisk",
        Status.WARN,
        f"Asterisk {shown}: Hangup events have no TechCause (20.17, 22.7 and 23.1 add it), so a "
        "carrier's plain BYE after a network drop looks like a normal hang-up (cause 16)",
        "upgrade to 20.17+, 22.7+ or 23.1+ to see the SIP code of every drop",
    )


def check_clock(asterisk_epoch: float, host_before: float, host_after: float) -> Finding:
    """Asterisk's Ping timestamp against this host's clock (halfway through the round trip)."""
    skew = asterisk_epoch - (host_before + host_after) / 2
    if abs(skew) <= CLOCK_SKEW_WARN:
        return Finding("clock", Status.OK, f"Asterisk and this host agree ({skew:+.3f} s)")
    return Finding(
        "clock",
        Status.WARN,
        f"Asterisk's clock is {skew:+.1f} s off this host's: business hours and call "
        "times in the history will not match the PBX's reports",
        "run NTP (systemd-timesyncd or chrony) on both machines",
    )


@dataclass(frozen=True, slots=True)
class DialplanLine:
    context: str
    extension: str
    priority: str
    application: str
    data: str


def check_dialplan(context: str, lines: Sequence[DialplanLine] | None) -> Finding:
    """The redial context exists and has the ``s`` extension the Originate enters at."""
    fix = (
        f"copy {EXTENSIONS_CONF_HINT} to /etc/asterisk/, add the line "
        "#include extensions_redial.conf to extensions.conf, then run "
        'asterisk -rx "dialplan reload"'
    )
    if lines is None:
        return Finding("dialplan", Status.FAIL, f"context [{context}] does not exist: every redial would fail", fix)
    if not any(line.extension == "s" for line in lines):
        return Finding(
            "dialplan",
            Status.FAIL,
            f"context [{context}] has no extension s: the Originate enters at s,1",
            fix,
        )
    detail = f"[{context}] has s,1 and {len(lines)} priorities"
    return Finding("dialplan", Status.OK, detail + (" (greeting via U())" if uses_greeting(lines) else ""))


def uses_greeting(lines: Sequence[DialplanLine]) -> bool:
    """Does the redial context play the customer's greeting through Dial's U(redial-greeting) gosub?"""
    return any(line.application == "Dial" and "U(redial-greeting" in line.data for line in lines)


def check_greeting(lines: Sequence[DialplanLine] | None) -> Finding:
    """[redial-greeting] exists (asked only when the redial context uses it)."""
    if lines is None:
        return Finding(
            "dialplan",
            Status.FAIL,
            "[redial-out] plays the greeting through U(redial-greeting), but that context does not "
            "exist: the customer's leg would fail when they answer",
            f'add [redial-greeting] from {EXTENSIONS_CONF_HINT} and run asterisk -rx "dialplan reload"',
        )
    return Finding("dialplan", Status.OK, "[redial-greeting] exists")


def check_returning(lines: Sequence[DialplanLine] | None, host: str, port: int) -> Finding:
    """The returning-caller hook exists and its AGI address is the daemon's FastAGI service."""
    if lines is None:
        return Finding(
            "returning",
            Status.WARN,
            "[redial-returning] does not exist: a customer who calls back after a drop waits in "
            "the queue instead of reaching the same agent",
            f"add [redial-returning] from {EXTENSIONS_CONF_HINT} and call "
            "Gosub(redial-returning,s,1) before Queue() in your inbound context",
        )
    agi = [line.data for line in lines if line.application == "AGI"]
    wanted = f"agi://{host}:{port}/"
    if not any(data.startswith(wanted) for data in agi):
        found = ", ".join(agi) or "no AGI() at all"
        return Finding(
            "returning",
            Status.FAIL,
            f"[redial-returning] asks {found}, but the daemon listens on {wanted}",
            f"make the AGI() line read AGI({wanted}returning) or change fastagi.host/port in the redial configuration",
        )
    return Finding("returning", Status.OK, f"[redial-returning] asks the daemon at {wanted}")


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


def trunk_names(settings: Settings) -> frozenset[str] | None:
    """The trunks named in the configuration, or None when every trunk is in scope."""
    named: set[str] = set()
    scoped = [settings.policy, *settings.queue_policies.values()]
    if any(policy.trunks is None for policy in scoped) and settings.originate.trunk is None:
        return None
    for policy in scoped:
        named.update(policy.trunks or ())
    if settings.originate.trunk is not None:
        named.add(settings.originate.trunk)
    return frozenset(named)


def check_rtp_timeouts(
    trunks: frozenset[str] | None,
    endpoints: Mapping[str, pjsipconf.PjsipEndpoint],
    agents: frozenset[str],
    source: str,
) -> Finding:
    """Trunk endpoints need ``rtp_timeout``: without it a silent drop waits for the session timer.

    ``trunks`` None means "every trunk": then the endpoints an identify section
    matches by address are the trunks, and when there are none, every endpoint
    that is not a queue member's device may carry customers and is checked.
    """
    fallback = ""
    if trunks is not None:
        candidates = sorted(trunks)
        scope = "configured trunks"
    else:
        candidates = sorted(name for name, e in endpoints.items() if e.identified and name not in agents)
        scope = "trunks found by their identify section"
        if not candidates:
            candidates = sorted(name for name in endpoints if name not in agents)
            scope = "endpoints outside the queues"
            fallback = "; or list your trunks in policy.trunks to check only those"
    if not candidates:
        return Finding("rtp_timeout", Status.WARN, f"no {scope} found ({source})")
    missing = [name for name in candidates if name not in endpoints]
    if missing:
        return Finding(
            "rtp_timeout",
            Status.FAIL,
            f"trunk endpoint {', '.join(missing)} does not exist in pjsip ({source})",
            "fix policy.trunks / originate.trunk in the redial configuration",
        )
    unset = [name for name in candidates if endpoints[name].rtp_timeout <= 0]
    slow = [name for name in candidates if endpoints[name].rtp_timeout > RTP_TIMEOUT_SLOW]
    if unset:
        shown = ", ".join(unset[:6]) + (f" and {len(unset) - 6} more" if len(unset) > 6 else "")
        sections = " ".join(f"[{name}]" for name in unset[:3])
        return Finding(
            "rtp_timeout",
            Status.FAIL,
            f"no rtp_timeout on {shown} ({source}): a call whose media stops is only ended when "
            "the session timer expires, up to 30 minutes later, so its drop is seen far too late",
            f"in pjsip.conf add rtp_timeout = 30 to the endpoint section {sections}, then run "
            'asterisk -rx "pjsip reload"' + fallback,
        )
    if slow:
        return Finding(
            "rtp_timeout",
            Status.WARN,
            f"rtp_timeout above {RTP_TIMEOUT_SLOW} s on {', '.join(slow)} ({source}): the customer "
            "hears silence that long before the drop is seen",
            "set rtp_timeout = 30 on those endpoints",
        )
    values = sorted({endpoints[name].rtp_timeout for name in candidates})
    return Finding(
        "rtp_timeout",
        Status.OK,
        f"{scope}: {', '.join(candidates[:6])}{' and more' if len(candidates) > 6 else ''}, "
        f"rtp_timeout {'/'.join(map(str, values))} s ({source})",
    )


_FILTER_KEY = re.compile(r"^eventfilter\((.*)\)$")
_FILTER_OPTION = re.compile(r"(\w+)\(([^()]*)\)")


def check_event_filters(username: str, values: Mapping[str, str], needed: frozenset[str], source: str) -> Finding:
    """The user's eventfilter lines pass every event the daemon reads, and hold back the rest.

    Only the ``eventfilter(name(X))`` form (with ``action(exclude)`` or not) is
    judged; filters on headers or the legacy regex form are reported, not evaluated.
    """
    included: set[str] = set()
    excluded: set[str] = set()
    other = 0
    for key in values:
        if key == "eventfilter":
            other += 1
            continue
        match = _FILTER_KEY.match(key)
        if match is None:
            continue
        options = dict(_FILTER_OPTION.findall(match.group(1)))
        name = options.pop("name", None)
        action = options.pop("action", "include")
        if name is None or options:
            other += 1
        elif action == "exclude":
            excluded.add(name)
        else:
            included.add(name)
    fix_lines = f"copy the eventfilter lines of [redial] in {MANAGER_CONF_HINT} to [{username}]"
    blocked = sorted((needed - included) if included else set()) + sorted(needed & excluded)
    if blocked:
        return Finding(
            "eventfilter",
            Status.FAIL,
            f"the eventfilter lines of [{username}] hold back {', '.join(blocked)}, which the daemon "
            f"needs ({source}): calls would end unseen",
            fix_lines + ', then asterisk -rx "manager reload"',
        )
    if not included and not excluded and not other:
        return Finding(
            "eventfilter",
            Status.WARN,
            f"[{username}] has no eventfilter lines ({source}): Asterisk sends the daemon about twice "
            "the events it needs (28 instead of 15 a queue call), all parsed on the PBX's own CPU",
            fix_lines + ', then asterisk -rx "manager reload"',
        )
    if other and not included:
        return Finding("eventfilter", Status.OK, f"[{username}] has eventfilter lines, not evaluated ({source})")
    return Finding(
        "eventfilter", Status.OK, f"[{username}] lets through the {len(needed)} events the daemon reads ({source})"
    )


def check_modules(loaded: Mapping[str, bool], wanted: Mapping[str, str]) -> Finding:
    absent = [name for name in wanted if not loaded.get(name, False)]
    if not absent:
        return Finding("modules", Status.OK, f"loaded: {', '.join(wanted)}")
    why = "; ".join(f"{name}: {wanted[name]}" for name in absent)
    return Finding(
        "modules",
        Status.FAIL,
        f"not loaded: {why}",
        "in modules.conf remove noload => "
        + ", ".join(f"{n}.so" for n in absent)
        + ' (or add load => lines), then asterisk -rx "module load <name>.so"',
    )


# --- Talking to Asterisk ---------------------------------------------------------------


def _reply_frames(raw_lines: Sequence[str]) -> list[dict[str, str]]:
    """The frames in one pyst2 message's raw lines: its reply, then any events pyst2 glued to it."""
    return split_recording("".join(raw_lines).encode("utf-8"))


@dataclass
class _ListCollector:
    """Events of one list action (by ActionID) as pyst2's dispatch thread delivers them."""

    events: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    done: dict[str, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expect(self, action_id: str) -> threading.Event:
        with self.lock:
            self.events[action_id] = []
            self.done[action_id] = threading.Event()
            return self.done[action_id]

    def forget(self, action_id: str) -> None:
        with self.lock:
            self.events.pop(action_id, None)
            self.done.pop(action_id, None)

    def __call__(self, event: Any, _manager: Any) -> bool:
        headers = {str(k): str(v) for k, v in event.headers.items()}
        action_id = headers.get("ActionID", "")
        with self.lock:
            bucket = self.events.get(action_id)
            if bucket is None:
                return False
            bucket.append(headers)
            if headers.get("EventList", "").lower() == "complete":
                self.done[action_id].set()
        return False


class PbxProbe:
    """One short pyst2 session. Every answer must come within ``timeout`` seconds.

    pyst2 has no timeouts of its own: its socket gets one here, so a silent peer
    ends the session (pyst2 then answers a pending action with None) instead of
    hanging the terminal. pyst2 also glues the events of any reply whose Message
    contains "status will follow" (QueueStatus) to the reply itself; those are
    split off again here.
    """

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._manager: Any = None
        self._collector = _ListCollector()
        self._seq = 0
        self.banner = ""

    def _greet(self) -> str:
        """Read the banner ourselves first: pyst2's connect would wait forever on a silent port."""
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                sock.settimeout(self.timeout)
                banner = sock.recv(256).decode("utf-8", "replace").strip()
        except TimeoutError as exc:
            raise ProbeError(
                f"{self.host}:{self.port} accepted the connection but sent nothing in {self.timeout:g} s",
                "check ami.host/ami.port: that port is not Asterisk's AMI",
            ) from exc
        except OSError as exc:
            raise ProbeError(
                f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}",
                "start Asterisk, and in manager.conf [general] set enabled = yes, "
                f"bindaddr = 127.0.0.1 and port = {self.port} (or fix ami.host/ami.port)",
            ) from exc
        if not banner.startswith("Asterisk Call Manager/"):
            raise ProbeError(
                f"{self.host}:{self.port} is not Asterisk's AMI (it said {banner[:40]!r})",
                "check ami.host/ami.port in the redial configuration",
            )
        return banner

    def login(self, username: str, secret: str) -> None:
        from asterisk.manager import Manager, ManagerException

        self.banner = self._greet()
        manager = Manager()
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.timeout)
        try:
            manager.connect(self.host, self.port)
        except ManagerException as exc:
            raise ProbeError(f"cannot connect to {self.host}:{self.port}: {exc}", "start Asterisk") from exc
        finally:
            socket.setdefaulttimeout(previous)
        self._manager = manager
        manager.register_event("*", self._collector)
        reply = self.send({"Action": "Login", "Username": username, "Secret": secret, "Events": "off"})
        if reply.get("Response") != "Success":
            self.close()
            raise ProbeError(
                f"Asterisk refused the login of AMI user {username!r}: {reply.get('Message', 'no reason')}",
                f"check that manager.conf has a [{username}] section (from {MANAGER_CONF_HINT}) whose "
                "secret is the configured one, that its permit= allows this host and, while the daemon "
                "is logged in, that allowmultiplelogin is not no; then run "
                'asterisk -rx "manager reload"',
            )

    def _next_id(self) -> str:
        self._seq += 1
        return f"redial-doctor-{self._seq}"

    def send(self, action: Mapping[str, str]) -> dict[str, str]:
        reply, _, _ = self._send(action)
        return reply

    def _send(
        self, action: Mapping[str, str], action_id: str | None = None
    ) -> tuple[dict[str, str], list[dict[str, str]], list[str]]:
        """The reply's headers, events pyst2 glued to it, and its raw lines (for repeated keys)."""
        from asterisk.manager import ManagerException

        if self._manager is None:
            raise ProbeError("not connected", "")
        action_id = action_id or self._next_id()
        try:
            message = self._manager.send_action({**action, "ActionID": action_id})
        except ManagerException as exc:
            raise ProbeError(
                f"Asterisk stopped answering ({action.get('Action')}): {exc}",
                "check that Asterisk is running and not overloaded",
            ) from exc
        frames = _reply_frames(message.response)
        reply = frames[0] if frames else {}
        glued = [frame for frame in frames[1:] if "Event" in frame]
        return reply, glued, [str(line) for line in message.response]

    def list_action(self, action: Mapping[str, str]) -> tuple[dict[str, str], list[dict[str, str]]]:
        """A reply and the events of its list (until the ``EventList: Complete`` event)."""
        action_id = self._next_id()
        done = self._collector.expect(action_id)
        reply, glued, _ = self._send(action, action_id)
        if reply.get("Response") != "Success" or reply.get("EventList", "").lower() != "start":
            self._collector.forget(action_id)
            return reply, []
        if any(frame.get("EventList", "").lower() == "complete" for frame in glued):
            self._collector.forget(action_id)
            return reply, glued
        if not done.wait(self.timeout):
            self._collector.forget(action_id)
            raise ProbeError(
                f"Asterisk did not finish the {action.get('Action')} list in {self.timeout:g} s",
                "try again; check that Asterisk is not overloaded",
            )
        with self._collector.lock:
            events = self._collector.events.pop(action_id, [])
            self._collector.done.pop(action_id, None)
        return reply, glued + events

    def close(self) -> None:
        manager, self._manager = self._manager, None
        if manager is None:
            return
        # A broken link at goodbye changes nothing for the report.
        with contextlib.suppress(Exception):
            manager.close()

    # --- the questions the checks ask ---

    def commands(self) -> frozenset[str]:
        reply = self.send({"Action": "ListCommands"})
        return frozenset(key for key in reply if key not in ("Response", "ActionID", "Message"))

    def version(self) -> str:
        return self.send({"Action": "CoreSettings"}).get("AsteriskVersion", "")

    def ping_clock(self) -> tuple[float, float, float] | None:
        before = time.time()
        reply = self.send({"Action": "Ping"})
        after = time.time()
        try:
            return float(reply["Timestamp"]), before, after
        except (KeyError, ValueError):
            return None

    def dialplan(self, context: str) -> list[DialplanLine] | None:
        reply, events = self.list_action({"Action": "ShowDialPlan", "Context": context})
        if reply.get("Response") != "Success":
            return None
        return [
            DialplanLine(
                e.get("Context", ""),
                e.get("Extension", ""),
                e.get("Priority", ""),
                e.get("Application", ""),
                e.get("AppData", ""),
            )
            for e in events
            if e.get("Event") == "ListDialplan" and e.get("Context") == context
        ]

    def queues(self) -> dict[str, list[QueueMemberInfo]]:
        _, events = self.list_action({"Action": "QueueStatus"})
        found: dict[str, list[QueueMemberInfo]] = {}
        for event in events:
            if event.get("Event") == "QueueParams":
                found.setdefault(event.get("Queue", ""), [])
            elif event.get("Event") == "QueueMember":
                try:
                    status = int(event.get("Status", "0"))
                except ValueError:
                    status = 0
                found.setdefault(event.get("Queue", ""), []).append(
                    QueueMemberInfo(event.get("Queue", ""), event.get("Name", ""), event.get("Location", ""), status)
                )
        return found

    def endpoint_names(self) -> list[str]:
        _, events = self.list_action({"Action": "PJSIPShowEndpoints"})
        return [e.get("ObjectName", "") for e in events if e.get("Event") == "EndpointList"]

    def endpoint(self, name: str) -> pjsipconf.PjsipEndpoint | None:
        """The endpoint's rtp_timeout and whether an identify matches it; None when it does not exist."""
        _, events = self.list_action({"Action": "PJSIPShowEndpoint", "Endpoint": name})
        details = [e for e in events if e.get("Event") == "EndpointDetail"]
        if not details:
            return None
        try:
            rtp_timeout = int(details[0].get("RtpTimeout", "0"))
        except ValueError:
            rtp_timeout = 0
        identified = any(e.get("Event") == "IdentifyDetail" for e in events)
        return pjsipconf.PjsipEndpoint(name, rtp_timeout, identified)

    def module_loaded(self, module: str) -> bool:
        return self.send({"Action": "ModuleCheck", "Module": module}).get("Response") == "Success"

    def read_classes(self, username: str) -> list[str] | None:
        reply, _, raw = self._send({"Action": "Command", "Command": f"manager show user {username}"})
        if reply.get("Response") != "Success":
            return None
        for line in raw:
            _, _, text = line.partition(":")
            label, sep, value = text.strip().partition(":")
            if sep and label.strip() == "read perm":
                return [item for item in value.strip().split(",") if item]
        return None


# --- The run -----------------------------------------------------------------------------


def _dialplan_findings(probe: PbxProbe, settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    out = probe.dialplan(settings.originate.context)
    findings.append(check_dialplan(settings.originate.context, out))
    if out is not None and uses_greeting(out):
        findings.append(check_greeting(probe.dialplan("redial-greeting")))
    if settings.fastagi.enabled:
        findings.append(
            check_returning(probe.dialplan("redial-returning"), settings.fastagi.host, settings.fastagi.port)
        )
    return findings


_NO_CONFIG_FIX = (
    "give --asterisk-etc the directory of Asterisk's configuration, or run redial doctor "
    "--admin-user NAME with an AMI user that has read = system and write = system,command "
    f"(see the [redial-doctor] example in {MANAGER_CONF_HINT})"
)


def _rtp_finding(
    deep: PbxProbe | None,
    settings: Settings,
    agents: frozenset[str],
    config_dir: Path | None,
) -> Finding:
    trunks = trunk_names(settings)
    if deep is not None:
        names = sorted(trunks) if trunks is not None else deep.endpoint_names()
        known: dict[str, pjsipconf.PjsipEndpoint] = {}
        for name in names:
            endpoint = deep.endpoint(name)
            if endpoint is not None:
                known[name] = endpoint
        return check_rtp_timeouts(trunks, known, agents, "asked over AMI")
    if config_dir is None:
        return Finding(
            "rtp_timeout",
            Status.SKIPPED,
            "not checked: the AMI user lacks the system class, and no running Asterisk with AMI on "
            f"port {settings.ami.port} was found on this host to read pjsip.conf from",
            _NO_CONFIG_FIX,
        )
    pjsip = config_dir / "pjsip.conf"
    try:
        found = pjsipconf.endpoints(pjsip, config_dir)
    except (OSError, ValueError) as exc:
        return Finding(
            "rtp_timeout",
            Status.SKIPPED,
            f"not checked: the AMI user lacks the system class and {pjsip} cannot be read ({exc})",
            _NO_CONFIG_FIX,
        )
    return check_rtp_timeouts(trunks, found, agents, f"read from {pjsip}")


def _manager_findings(config_dir: Path | None, username: str, admin_checked: bool) -> list[Finding]:
    """What manager.conf says of the daemon's user: its read classes (unless asked over AMI) and filters."""
    if config_dir is None:
        return []
    section = pjsipconf.manager_user(config_dir, username)
    if section is None:
        return []
    source = f"read from {config_dir / 'manager.conf'}"
    findings = []
    if not admin_checked:
        read = [item.strip() for item in section.values.get("read", "").split(",") if item.strip()]
        finding = check_read_classes(username, read)
        findings.append(dataclasses.replace(finding, summary=f"{finding.summary} ({source})"))
    findings.append(check_event_filters(username, section.values, NEEDED_EVENTS, source))
    return findings


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def diagnose(
    settings: Settings,
    *,
    admin: Admin | None = None,
    etc_dir: Path | None = None,
    timeout: float = 5.0,
    probe_factory: Callable[[str, int, float], PbxProbe] = PbxProbe,
) -> Iterator[Finding]:
    """Run every check, yielding each finding as soon as it is known.

    ``etc_dir`` is where Asterisk's configuration is; by default that of the running
    Asterisk whose AMI port is the configured one, found through /proc (only when
    AMI is on this host). On a FreePBX installation (:mod:`redial.tools.freepbx`) the run
    says so, checks FreePBX's files too, and words every fix the FreePBX way.
    """
    from redial.tools import freepbx  # it builds on this module's Finding

    seen = _Seen()
    with contextlib.closing(_checks(settings, admin, etc_dir, timeout, probe_factory, seen)) as checks:
        for finding in checks:
            yield finding if seen.freepbx is None else freepbx.adapt(finding, seen.freepbx)


@dataclass
class _Seen:
    """What a run has learnt that changes how its findings are worded."""

    # A FreePBX installation: fixes then name its *_custom.conf files and fwconsole reload.
    freepbx: FreePbx | None = None


def _checks(
    settings: Settings,
    admin: Admin | None,
    etc_dir: Path | None,
    timeout: float,
    probe_factory: Callable[[str, int, float], PbxProbe],
    seen: _Seen,
) -> Generator[Finding, None, None]:
    from redial.tools import freepbx

    ami = settings.ami
    config_dir = etc_dir
    if config_dir is None and ami.host in _LOOPBACK:
        config_dir = pjsipconf.locate_config_dir(ami.port)
    seen.freepbx = freepbx.detect_files(config_dir)
    probe = probe_factory(ami.host, ami.port, timeout)
    deep: PbxProbe | None = None
    try:
        try:
            probe.login(ami.username, ami.secret.reveal())
        except ProbeError as exc:
            yield Finding("AMI", Status.FAIL, exc.summary, exc.fix)
            if seen.freepbx is not None:
                yield freepbx.detected(seen.freepbx)
            return
        yield Finding("AMI", Status.OK, f"logged in as {ami.username} at {ami.host}:{ami.port} ({probe.banner})")
        commands = probe.commands()
        if seen.freepbx is None and "ShowDialPlan" in commands:
            seen.freepbx = freepbx.detect_dialplan(probe.dialplan)
        if seen.freepbx is not None:
            yield freepbx.detected(seen.freepbx)
        yield check_permissions(ami.username, commands)
        if admin is not None:
            deep = probe_factory(ami.host, ami.port, timeout)
            try:
                deep.login(admin.username, admin.secret)
            except ProbeError as exc:
                yield Finding("admin", Status.FAIL, exc.summary, exc.fix)
                deep = None
        elif "PJSIPShowEndpoint" in commands:
            deep = probe
        version = probe.version() if "CoreSettings" in commands else (deep.version() if deep else "")
        if version:
            yield check_version(version)
        else:
            yield Finding("asterisk", Status.SKIPPED, "version not read: CoreSettings needs the reporting class")
        clock = probe.ping_clock()
        if clock is None:
            yield Finding("clock", Status.SKIPPED, "Asterisk's Ping carried no Timestamp")
        else:
            yield check_clock(*clock)
        if "ShowDialPlan" in commands:
            yield from _dialplan_findings(probe, settings)
        else:
            yield Finding("dialplan", Status.SKIPPED, "not checked: ShowDialPlan needs the reporting class")
        queues = probe.queues()
        # The queues the configuration names; none named ("*"): every queue Asterisk has.
        named = set(settings.policy.queues or ()) | set(settings.queue_policies)
        yield from check_queues(sorted(named) if named else None, queues)
        agents = frozenset(
            name for members in queues.values() for m in members if (name := endpoint_of(m.interface)) is not None
        )
        if seen.freepbx is not None:
            agents |= freepbx.member_endpoints(m.interface for members in queues.values() for m in members)
        yield _rtp_finding(deep, settings, agents, config_dir)
        read_checked = False
        if deep is not None and admin is not None:
            wanted_modules = dict(MODULES)
            if settings.fastagi.enabled:
                wanted_modules[AGI_MODULE[0]] = AGI_MODULE[1]
            yield check_modules({name: deep.module_loaded(name) for name in wanted_modules}, wanted_modules)
            read = deep.read_classes(ami.username)
            if read is not None:
                read_checked = True
                yield check_read_classes(ami.username, read)
        else:
            yield Finding(
                "modules",
                Status.SKIPPED,
                "loaded modules not checked (ModuleCheck needs an AMI user with the system class)",
                f"run redial doctor --admin-user NAME (see [redial-doctor] in {MANAGER_CONF_HINT})",
            )
        yield from _manager_findings(config_dir, ami.username, read_checked)
        if seen.freepbx is not None:
            yield from freepbx.file_findings(
                seen.freepbx, ami.username, settings.originate.context, settings.fastagi.enabled
            )
    except ProbeError as exc:
        yield Finding("AMI", Status.FAIL, exc.summary, exc.fix)
    finally:
        if deep is not None and deep is not probe:
            deep.close()
        probe.close()


# --- Output ------------------------------------------------------------------------------

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIPPED: "cyan"}
_LABEL_WIDTH = 5
_CHECK_WIDTH = 12


def render(finding: Finding, *, colour: bool, width: int = 80) -> str:
    """One finding as wrapped lines of at most ``width`` columns (ANSI colour only on the label)."""
    import click

    label = finding.status.value.ljust(_LABEL_WIDTH)
    if colour:
        label = click.style(label, fg=_COLOURS[finding.status], bold=finding.status is Status.FAIL)
    indent = " " * (1 + _LABEL_WIDTH + 1 + _CHECK_WIDTH + 1)
    body = textwrap.wrap(finding.summary, width=width - len(indent), break_on_hyphens=False) or [""]
    lines = [f" {label} {finding.check.ljust(_CHECK_WIDTH)} {body[0]}"]
    lines.extend(indent + text for text in body[1:])
    if finding.fix:
        fix = textwrap.wrap(
            "fix: " + finding.fix, width=width - len(indent), subsequent_indent="     ", break_on_hyphens=False
        )
        lines.extend(indent + text for text in fix)
    return "\n".join(lines)


def verdict(findings: Sequence[Finding]) -> str:
    failed = sum(1 for f in findings if f.status is Status.FAIL)
    warned = sum(1 for f in findings if f.status is Status.WARN)
    skipped = sum(1 for f in findings if f.status is Status.SKIPPED)
    if not failed and not warned:
        tail = f" ({skipped} not checked)" if skipped else ""
        return f"All checks passed{tail}."
    parts = []
    if failed:
        parts.append(f"{failed} problem{'s' if failed != 1 else ''}")
    if warned:
        parts.append(f"{warned} warning{'s' if warned != 1 else ''}")
    return " and ".join(parts) + ": see the fixes above."
