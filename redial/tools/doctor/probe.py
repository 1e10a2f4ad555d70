"""Talking to Asterisk: :class:`PbxProbe`, one short pyst2 session that asks what the checks judge.

pyst2's blocking client serves here: a short synchronous tool needs no event loop.
This is the only part of the doctor that talks to Asterisk.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redial.ami.actions import challenge_action, login_action
from redial.ami.frames import split_recording
from redial.tools import pjsipconf
from redial.tools.doctor.dialplan import DialplanLine
from redial.tools.doctor.findings import MANAGER_CONF_HINT
from redial.tools.doctor.queues import QueueMemberInfo


class ProbeError(Exception):
    """Asterisk could not be reached or refused the login."""

    def __init__(self, summary: str, fix: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.fix = fix


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
        # pyst2's own login() sends the secret in clear: the MD5 challenge goes through send_action instead.
        challenge = self.send({str(k): str(v) for k, v in challenge_action().items()})
        if challenge.get("Response") != "Success" or not challenge.get("Challenge"):
            self.close()
            raise ProbeError(
                f"Asterisk refused the MD5 challenge: {challenge.get('Message', 'no challenge sent')}",
                f"check that {self.host}:{self.port} is Asterisk's AMI; redial never sends the secret in clear",
            )
        login = login_action(username, challenge["Challenge"], secret, "off")
        reply = self.send({str(k): str(v) for k, v in login.items()})
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
