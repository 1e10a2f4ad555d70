"""Tests for redial.service.daemon (the composition root); its live path runs in test_integration.py."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redial.config import load_settings
from redial.service.daemon import BATCH_LIMIT, Daemon
from tests.ports import free_port

REPO = Path(__file__).resolve().parent.parent


class TestReload:
    """SIGHUP: a valid file replaces the policy; an invalid one keeps the running one."""

    def test_valid_file_replaces_policy(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 20\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("policy:\n  callback_window: 7\n")
        daemon.reload()
        assert daemon.settings.policy.callback_window == 7

    def test_invalid_file_keeps_running_policy(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 20\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("policy:\n  callback_windw: 7\n")
        daemon.reload()
        assert daemon.settings.policy.callback_window == 20

    def test_ami_changes_wait_for_restart(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  port: 5038\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("ami:\n  port: 6000\npolicy:\n  callback_window: 3\n")
        daemon.reload()
        assert daemon.settings.ami.port == 5038 and daemon.settings.policy.callback_window == 3

    def test_fastagi_address_waits_for_restart_but_window_applies(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("fastagi:\n  port: 4573\n  returning_window: 900\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("fastagi:\n  port: 4600\n  returning_window: 60\n")
        daemon.reload()
        assert daemon.settings.fastagi.port == 4573 and daemon.settings.fastagi.returning_window == 60


class TestReloadInTheQueue:
    """SIGHUP waits its turn in the consumer's queue; a new ChannelId prefix waits for a restart."""

    async def test_reload_runs_between_events(self, tmp_path: Path) -> None:
        """Events queued before the SIGHUP see the old policy, those after it the new one."""
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 20\n")
        daemon = Daemon(load_settings(file, env={}))
        seen: list[float] = []

        class EngineRunner(_RecordingEngine):
            async def handle(self, item: object) -> bool:
                seen.append(daemon.settings.policy.callback_window)
                return False

            def reload(self, settings: object) -> None:
                pass

        file.write_text("policy:\n  callback_window: 7\n")
        daemon.event_arrived(object())  # type: ignore[arg-type]
        daemon.request_reload()
        assert daemon.settings.policy.callback_window == 20  # the handler itself changes nothing
        daemon.event_arrived(object())  # type: ignore[arg-type]
        await daemon.drain(EngineRunner())  # type: ignore[arg-type]
        assert seen == [20, 7]

    def test_channel_id_prefix_waits_for_restart(self, tmp_path: Path) -> None:
        """Redials in flight are found by their ChannelIds: the prefix stays until the next start."""
        file = tmp_path / "r.yaml"
        file.write_text("originate:\n  channel_id_prefix: redial\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("originate:\n  channel_id_prefix: cb\n  agent_ring_timeout: 25\n")
        daemon.reload()
        assert daemon.settings.originate.channel_id_prefix == "redial"
        assert daemon.settings.originate.agent_ring_timeout == 25


class _RecordingEngine:
    """Stands in for the engine: records what the consumer hands it; one event makes it fail."""

    def __init__(self, failing: object = None, makes_work_due: object = None) -> None:
        self.calls: list[object] = []
        self.failing = failing
        self.makes_work_due = makes_work_due
        self.due = False

    async def handle(self, item: object) -> bool:
        self.calls.append(item)
        if item is self.makes_work_due:
            self.due = True
        if item is self.failing:
            raise RuntimeError("a bug in one event")
        return item is self.makes_work_due

    async def tick(self) -> None:
        self.calls.append("tick")
        self.due = False

    def work_due(self) -> bool:
        return self.due

    def next_wakeup(self) -> float | None:
        return None


def _daemon(tmp_path: Path) -> Daemon:
    file = tmp_path / "r.yaml"
    file.write_text("policy:\n  callback_window: 20\n")
    return Daemon(load_settings(file, env={}))


async def _queue_and_drain(daemon: Daemon, engine: _RecordingEngine, events: list[object]) -> None:
    for event in events:
        daemon.event_arrived(event)  # type: ignore[arg-type]
    await daemon.drain(engine)  # type: ignore[arg-type]


class TestConsumer:
    """The one task that feeds queued AMI events to the engine."""

    async def test_queued_events_are_handled_in_order_then_one_tick(self, tmp_path: Path) -> None:
        """Everything queued is handled in arrival order, a failing event skips only itself, then one tick."""
        daemon = _daemon(tmp_path)
        events = [object() for _ in range(5)]
        engine = _RecordingEngine(failing=events[1])
        await _queue_and_drain(daemon, engine, events)
        assert engine.calls == [*events, "tick"]
        lag = daemon.metrics.registry.get_sample_value("redial_event_lag_seconds_count")
        assert lag == 1.0  # one batch, timed from its oldest event

    async def test_batch_is_bounded(self, tmp_path: Path) -> None:
        """A backlog longer than the batch limit gets a tick between batches (timers keep running)."""
        daemon = _daemon(tmp_path)
        engine = _RecordingEngine()
        events = [object() for _ in range(BATCH_LIMIT + 3)]
        await _queue_and_drain(daemon, engine, events)
        ticks = [i for i, call in enumerate(engine.calls) if call == "tick"]
        assert ticks == [BATCH_LIMIT, BATCH_LIMIT + 4]

    async def test_due_work_ends_the_batch(self, tmp_path: Path) -> None:
        """An event that makes work due (a drop, zero window) is ticked at once, before the events behind it."""
        daemon = _daemon(tmp_path)
        events = [object() for _ in range(4)]
        engine = _RecordingEngine(makes_work_due=events[1])
        await _queue_and_drain(daemon, engine, events)
        assert engine.calls == [events[0], events[1], "tick", events[2], events[3], "tick"]


class TestFileModes:
    """What the daemon creates holds customer numbers: only its own user may read it."""

    def test_store_and_lock_are_private_under_a_permissive_umask(self, tmp_path: Path) -> None:
        """`redial run` by hand from a shell with umask 000 still creates the store, its WAL and the lock 0600."""
        store = tmp_path / "state" / "redial.sqlite3"
        config = tmp_path / "r.yaml"
        config.write_text(
            f"store:\n  path: {store}\nami:\n  port: {free_port()}\n"
            "status:\n  enabled: false\nfastagi:\n  enabled: false\n"
        )
        os.chmod(config, 0o600)
        env = {**os.environ, "REDIAL_AMI_SECRET": "a-long-enough-test-secret-0123"}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "redial", "run", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            umask=0,
        )
        try:
            assert daemon.stdout is not None
            deadline = time.monotonic() + 60
            for line in daemon.stdout:  # the store is open (and migrated) once it says so; then it
                if '"started"' in line or time.monotonic() > deadline:  # logs each refused AMI connect
                    break
            assert daemon.poll() is None, "the daemon did not start"
            created = [store, Path(f"{store}-wal"), Path(f"{store}-shm"), Path(f"{store}.lock")]
            modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in created}
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=30)
        assert modes == {path.name: "0o600" for path in created}
        assert daemon.returncode == 0


class TestIdleConsumer:
    """With nothing to do, the consumer sleeps: no timer, no tick."""

    async def test_idle_consumer_sets_no_timer(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With nothing due and no watchdog the consumer sleeps without any timer until an item comes."""
        loop = asyncio.get_running_loop()
        made: list[float] = []
        call_later = loop.call_later
        monkeypatch.setattr(loop, "call_later", lambda delay, *a: made.append(delay) or call_later(delay, *a))
        daemon = _daemon(tmp_path)
        engine = _RecordingEngine()
        consumer = asyncio.ensure_future(daemon._consume(engine))  # type: ignore[arg-type]
        for _ in range(5):
            await asyncio.sleep(0)
        assert made == [] and engine.calls == []  # asleep, no timer, no tick
        daemon.stop()
        await asyncio.wait_for(consumer, 1)


class _AtOnceEngine(_RecordingEngine):
    """Also takes events handed over at once; one event gives commands, which it records carrying out."""

    def __init__(self, gives_commands: object = None) -> None:
        super().__init__()
        self.gives_commands = gives_commands
        self.wakeup: float | None = None

    def handle_at_once(self, item: object) -> list[object]:
        self.calls.append(("at once", item))
        return ["command"] if item is self.gives_commands else []

    async def carry_out(self, commands: list[object]) -> None:
        self.calls.append(("carried out", *commands))

    def next_wakeup(self) -> float | None:
        return self.wakeup


class TestEventWhileAsleep:
    """An event that finds the consumer asleep with nothing queued is handled at once, in order."""

    async def _asleep(self, daemon: Daemon, engine: _AtOnceEngine) -> asyncio.Future[None]:
        consumer = asyncio.ensure_future(daemon._consume(engine))  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.sleep(0)
        return consumer

    async def test_handled_without_waking_the_consumer(self, tmp_path: Path) -> None:
        """No command: the engine has it before event_arrived returns, and the consumer sleeps on."""
        daemon, engine = _daemon(tmp_path), _AtOnceEngine()
        consumer = await self._asleep(daemon, engine)
        daemon.event_arrived("e1")  # type: ignore[arg-type]
        assert engine.calls == [("at once", "e1")]
        for _ in range(3):
            await asyncio.sleep(0)
        assert engine.calls == [("at once", "e1")]  # no batch, no tick
        daemon.stop()
        await asyncio.wait_for(consumer, 1)

    async def test_commands_run_before_later_events(self, tmp_path: Path) -> None:
        """The commands an event gave are carried out before any event that arrived after it."""
        daemon, engine = _daemon(tmp_path), _AtOnceEngine(gives_commands="drop")
        consumer = await self._asleep(daemon, engine)
        daemon.event_arrived("drop")  # type: ignore[arg-type]
        daemon.event_arrived("later")  # type: ignore[arg-type]
        daemon.stop()
        await asyncio.wait_for(consumer, 1)
        assert engine.calls == [("at once", "drop"), ("carried out", "command"), "later", "tick"]

    async def test_changed_wakeup_wakes_the_consumer(self, tmp_path: Path) -> None:
        """An event that moved the engine's next wake-up makes the consumer sleep again until the new one."""
        daemon, engine = _daemon(tmp_path), _AtOnceEngine()
        consumer = await self._asleep(daemon, engine)
        engine.wakeup = 1e12  # say, an agent's wrap-up that ends later
        daemon.event_arrived("agent complete")  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.sleep(0)
        assert engine.calls == [("at once", "agent complete"), "tick"]
        assert daemon._asleep_until == 1e12
        daemon.stop()
        await asyncio.wait_for(consumer, 1)
