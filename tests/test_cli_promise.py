"""Tests for redial.tools.cli_promise: ``redial promise`` over a real control socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from redial.config import parse_settings
from redial.core.jobs import CancelAnswer
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.service.control import ControlServer, user_name
from redial.tools.cli import main
from redial.tools.cli_promise import described

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
# 14:30 in Berlin, a few hours ahead of now (or the next day's, late in the evening).
_NOW = dt.datetime.now(BERLIN)
DUE = _NOW.replace(hour=14, minute=30, second=0, microsecond=0) + dt.timedelta(days=1 if _NOW.hour >= 14 else 0)


class Daemon:
    """The daemon's side: promises for 0000 are refused, the rest made as id 12, owned by Alice."""

    def __init__(self) -> None:
        self.asked: list[PromiseRequest] = []

    async def cancel(self, _redial_id: int, _by: str) -> CancelAnswer:
        raise AssertionError("no cancel here")

    async def promise(self, request: PromiseRequest) -> PromiseAnswer:
        self.asked.append(request)
        if request.number == "0000":
            return PromiseAnswer(False, "0000 is a short service number: never called back")
        return PromiseAnswer(True, "promised", 12, DUE.timestamp(), "support", "Alice", "PJSIP/1001")


def config(tmp_path: Path) -> Path:
    file = tmp_path / "r.yaml"
    file.write_text(
        f"store:\n  path: {tmp_path / 's.sqlite3'}\ncontrol:\n  socket: {tmp_path / 'control.sock'}\n"
        "policy:\n  hours:\n    timezone: Europe/Berlin\n"
    )
    return file


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    found = Daemon()
    # Its log goes nowhere: CliRunner would take it for the command's output.
    quiet = structlog.wrap_logger(structlog.PrintLogger(io.StringIO()))
    server = ControlServer(tmp_path / "control.sock", None, dict, found.cancel, found.promise, quiet)
    await server.start()
    yield found
    await server.close()


async def promise(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, ["promise", "--config", str(config(tmp_path)), *args])
    return result.exit_code, result.stdout, result.stderr


class TestPromise:
    """The id alone on stdout, the promise in words on stderr; the daemon's refusal is the error."""

    async def test_made(self, tmp_path: Path, daemon: Daemon) -> None:
        """Every option reaches the daemon; the maker is this process's user."""
        code, out, err = await promise(
            tmp_path, "0301234567", "--at", "14:30", "--agent", "Alice", "--queue", "support", "--note", "invoice"
        )
        assert code == 0, err
        assert out == "12\n"
        when = "14:30" if DUE.date() == _NOW.date() else DUE.strftime("%Y-%m-%d 14:30")
        assert err == f"promise 12: 0301234567 at {when} (Europe/Berlin) by Alice in support\n"
        asked = daemon.asked[0]
        assert (asked.number, asked.at, asked.within, asked.agent, asked.queue, asked.note) == (
            "0301234567",
            "14:30",
            "",
            "Alice",
            "support",
            "invoice",
        )
        assert asked.by == user_name(os.geteuid()) and asked.source == "cli"

    async def test_refused(self, tmp_path: Path, daemon: Daemon) -> None:
        """The daemon's words, exit 1, nothing on stdout."""
        code, out, err = await promise(tmp_path, "0000", "--in", "30m", "--call", "17.2")
        assert (code, out) == (1, "")
        assert err == "redial: no promise: 0000 is a short service number: never called back\n"
        assert daemon.asked[0].within == "30m" and daemon.asked[0].call == "17.2"

    async def test_exactly_one_of_in_and_at(self, tmp_path: Path, daemon: Daemon) -> None:
        """Neither or both is a usage error (exit 2); the daemon is never asked."""
        assert (await promise(tmp_path, "0301234567"))[0] == 2
        code, _, err = await promise(tmp_path, "0301234567", "--in", "1h", "--at", "14:30")
        assert code == 2 and "exactly one of --in and --at" in err
        assert daemon.asked == []

    async def test_daemon_not_running(self, tmp_path: Path) -> None:
        """Nothing listens: no promise, exit 3 (only the daemon can make one)."""
        code, out, err = await promise(tmp_path, "0301234567", "--in", "1h")
        assert (code, out) == (3, "") and "the daemon is not running" in err


class TestDescribed:
    """The promise for people, in the queue's own time zone."""

    def test_queue_zone_and_other_days(self) -> None:
        """Today's promise shows the time, another day's its date; a queue's promise has no agent."""
        settings = parse_settings(
            {
                "policy": {
                    "hours": {"timezone": "Europe/Berlin"},
                    "queue_overrides": {"ny": {"hours": {"timezone": "America/New_York"}}},
                }
            },
            source="<test>",
        )
        now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC).timestamp()
        at_15 = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC).timestamp()
        answer = {"promise_id": 4, "due_at": at_15, "queue": "ny", "agent": ""}
        assert described(answer, "+12025550143", settings, now) == (
            "promise 4: +12025550143 at 10:00 (America/New_York) by any agent in ny"
        )
        answer = {"promise_id": 5, "due_at": at_15 + 86400, "queue": "support", "agent": "Bob"}
        assert described(answer, "0301", settings, now) == (
            "promise 5: 0301 at 2026-12-03 16:00 (Europe/Berlin) by Bob in support"
        )
        moved = {**answer, "moved_to_opening": True}
        assert described(moved, "0301", settings, now).endswith("(outside business hours: moved to the next opening)")
