"""A small asyncio AMI client for tests: records every event, waits for conditions, sends actions.

Plain asyncio streams rather than panoramisk, so that the tests' eyes on the PBX share none of
the daemon's client code or its pitfalls (see asterisk-facts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

FieldValue = str | Sequence[str]  # a sequence sends the header once per item (Variable: ...)


class AmiError(AssertionError):
    """An AMI action failed or timed out, or the connection broke."""


class AmiMessage(dict[str, str]):
    """One AMI event or response: header -> value, plus the monotonic time it arrived.

    A header repeated within one message keeps every value, joined by newlines.
    """

    def __init__(self, fields: Mapping[str, str], received: float) -> None:
        super().__init__(fields)
        self.received = received

    @property
    def name(self) -> str:
        """The event name, or `Response: X` for a response."""
        if "Event" in self:
            return self["Event"]
        return f"Response: {self.get('Response', '?')}"


Predicate = Callable[[AmiMessage], bool]


def where(**expected: str | Callable[[str], bool]) -> Predicate:
    """A predicate: every named header equals the value (or the callable returns True for it)."""

    def check(msg: AmiMessage) -> bool:
        for key, want in expected.items():
            have = msg.get(key)
            if have is None:
                return False
            if callable(want):
                if not want(have):
                    return False
            elif have != want:
                return False
        return True

    check.__doc__ = ", ".join(f"{k}={v if isinstance(v, str) else '<fn>'}" for k, v in expected.items())
    return check


def _describe(msg: AmiMessage) -> str:
    extra = msg.get("Channel") or msg.get("DestChannel") or msg.get("ActionID") or ""
    cause = f" Cause={msg['Cause']}" if "Cause" in msg else ""
    return f"{msg.name}({extra}{cause})" if extra or cause else msg.name


class AmiObserver:
    """An AMI session (by default the sandbox's `observer` user, read=all) for tests.

    Every event goes into `events` in arrival order. `wait_for` waits for one that matches;
    `action` sends an action and returns its response; `action_list` also collects the event
    list (QueueStatus, CoreShowChannels, ...).
    """

    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.events: list[AmiMessage] = []
        self.responses: list[AmiMessage] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._cond: asyncio.Condition | None = None
        self._pending: dict[str, asyncio.Future[AmiMessage]] = {}
        self._ids = itertools.count(1)
        self.closed_reason: str | None = None

    # ---- connection --------------------------------------------------------------------
    async def connect(self, timeout: float = 10.0) -> None:
        """Open the TCP session and log in; raises AmiError when refused."""
        self._cond = asyncio.Condition()
        reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        self._reader = reader
        banner = await asyncio.wait_for(reader.readline(), timeout)
        if not banner.startswith(b"Asterisk Call Manager"):
            raise AmiError(f"not an AMI banner: {banner!r}")
        self.closed_reason = None
        self._task = asyncio.create_task(self._read_loop(), name=f"ami-{self.username}")
        reply = await self.action(
            {"Action": "Login", "Username": self.username, "Secret": self.secret}, timeout=timeout, check=False
        )
        if reply.get("Response") != "Success":
            await self.close()
            raise AmiError(f"AMI login as {self.username} refused: {dict(reply)}")

    async def close(self) -> None:
        """Log off (best effort) and close. Safe to call twice."""
        if self._writer is not None and self.closed_reason is None:
            with contextlib.suppress(AmiError, OSError):
                await self.action({"Action": "Logoff"}, timeout=2, check=False)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
            self._writer = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def __aenter__(self) -> AmiObserver:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _read_loop(self) -> None:
        assert self._reader is not None and self._cond is not None
        fields: dict[str, str] = {}
        try:
            while True:
                raw = await self._reader.readline()
                if not raw:
                    self.closed_reason = "connection closed by Asterisk"
                    break
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line:
                    key, sep, value = line.partition(":")
                    if not sep:  # e.g. raw command output: keep it under a generic key
                        key, value = "Output", line
                    key, value = key.strip(), value.strip() if sep else value
                    fields[key] = f"{fields[key]}\n{value}" if key in fields else value
                    continue
                if fields:
                    await self._dispatch(AmiMessage(fields, time.monotonic()))
                    fields = {}
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.closed_reason = f"connection lost: {exc}"
        finally:
            if self.closed_reason is None:
                self.closed_reason = "reader stopped"
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(AmiError(f"AMI {self.closed_reason}"))
            self._pending.clear()
            async with self._cond:
                self._cond.notify_all()

    async def _dispatch(self, msg: AmiMessage) -> None:
        assert self._cond is not None
        if "Event" in msg:
            self.events.append(msg)
        else:
            self.responses.append(msg)
            fut = self._pending.pop(msg.get("ActionID", ""), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        async with self._cond:
            self._cond.notify_all()

    # ---- actions -----------------------------------------------------------------------
    async def send(self, fields: Mapping[str, FieldValue]) -> str:
        """Send an action without waiting; returns its ActionID (one is added if missing)."""
        if self._writer is None or self.closed_reason is not None:
            raise AmiError(f"AMI session not open ({self.closed_reason})")
        action_id = str(fields.get("ActionID") or f"obs-{next(self._ids)}")
        lines: list[str] = []
        for key, value in fields.items():
            if key == "ActionID":
                continue
            for item in [value] if isinstance(value, str) else value:
                if "\r" in item or "\n" in item:
                    raise ValueError(f"line break in AMI header {key}: {item!r}")
                lines.append(f"{key}: {item}")
        lines.append(f"ActionID: {action_id}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        return action_id

    async def action(self, fields: Mapping[str, FieldValue], timeout: float = 10.0, check: bool = True) -> AmiMessage:
        """Send an action and return its response; with check, raise AmiError unless Success."""
        loop = asyncio.get_running_loop()
        action_id = str(fields.get("ActionID") or f"obs-{next(self._ids)}")
        fut: asyncio.Future[AmiMessage] = loop.create_future()
        self._pending[action_id] = fut
        try:
            await self.send({**fields, "ActionID": action_id})
            reply = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AmiError(f"no answer to {fields.get('Action')} within {timeout} s") from None
        finally:
            self._pending.pop(action_id, None)
        if check and reply.get("Response") != "Success":
            raise AmiError(f"{fields.get('Action')} failed: {dict(reply)}")
        return reply

    async def action_list(self, fields: Mapping[str, FieldValue], timeout: float = 10.0) -> list[AmiMessage]:
        """Send a list action; return its events (the final `...Complete` one included)."""
        start = len(self.events)
        reply = await self.action(fields, timeout)
        action_id = reply.get("ActionID", "")
        done = await self.wait_for(
            lambda m: m.get("ActionID") == action_id and m.get("EventList") == "Complete",
            timeout,
            start=start,
            what=f"end of {fields.get('Action')} list",
        )
        return [m for m in self.events[start : self.events.index(done) + 1] if m.get("ActionID") == action_id]

    # ---- waiting -----------------------------------------------------------------------
    def mark(self) -> int:
        """The index of the next event: pass as `start` to wait only for later events."""
        return len(self.events)

    def find(self, predicate: Predicate, start: int = 0) -> list[AmiMessage]:
        """All recorded events from `start` that match."""
        return [m for m in self.events[start:] if predicate(m)]

    async def wait_for(
        self, predicate: Predicate, timeout: float = 10.0, start: int = 0, what: str | None = None
    ) -> AmiMessage:
        """Return the first event from index `start` on that matches, waiting up to timeout.

        Raises AssertionError naming what was awaited and listing the recent events.
        """
        assert self._cond is not None, "connect() first"
        deadline = time.monotonic() + timeout
        index = start
        while True:
            while index < len(self.events):
                msg = self.events[index]
                index += 1
                if predicate(msg):
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed_reason is not None:
                break
            async with self._cond:
                if index < len(self.events):
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), remaining)
        recent = ", ".join(_describe(m) for m in self.events[max(start, len(self.events) - 40) :])
        label = what or predicate.__doc__ or getattr(predicate, "__name__", "event")
        closed = f" (AMI {self.closed_reason})" if self.closed_reason else ""
        raise AssertionError(
            f"no AMI event matching {label} within {timeout} s{closed}; "
            f"{len(self.events) - start} events since start, the last ones: {recent or 'none'}"
        )
