"""Tests for redial.tools.cli."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from redial.clock import ManualClock
from redial.config import parse_settings
from redial.service.replay import load_frames, replay
from redial.store import Store, StoreLock
from redial.tools.cli import main
from redial.tools.cli_checks import use_colour
from redial.tools.cli_common import EXIT_CONFIG
from redial.tools.cli_daemon import EXIT_ALREADY_RUNNING


class TestCheckConfig:
    """``redial check-config``."""

    def test_valid_prints_effective_settings(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 7\nami:\n  secret: hunter2\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)], env={})
        assert result.exit_code == 0
        assert "callback_window: 7.0" in result.output and "hunter2" not in result.output

    def test_bad_key_exits_78_naming_it(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_windw: 7\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)])
        assert result.exit_code == EXIT_CONFIG
        assert "policy.callback_windw" in result.output

    def test_run_without_secret_exits_78(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {tmp_path / 's.sqlite3'}\n")
        result = CliRunner().invoke(main, ["run", "--config", str(file)], env={"REDIAL_AMI_SECRET": ""})
        assert result.exit_code == EXIT_CONFIG and "ami.secret" in result.output

    def test_run_beside_a_running_daemon_exits_75_naming_it(self, tmp_path: Path) -> None:
        """A second daemon on the same store refuses to start (it would redial every drop twice)."""
        store = tmp_path / "s.sqlite3"
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {store}\n")
        running = StoreLock(store)
        running.acquire()
        try:
            result = CliRunner().invoke(main, ["run", "--config", str(file)], env={"REDIAL_AMI_SECRET": "x"})
        finally:
            running.release()
        assert result.exit_code == EXIT_ALREADY_RUNNING
        assert f"another redial daemon (pid {os.getpid()}) already runs with the store {store}" in result.output


class TestHistory:
    """``redial history`` reads what the daemon recorded."""

    def test_lists_drop_and_normal(self, corpus: Path, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite3"

        async def fill() -> None:
            store = await Store.open(path)
            settings = parse_settings({}, env={})
            for name in ("drop_rtp_timeout.ami", "normal_customer_hangup.ami"):
                await replay(load_frames(corpus / "asterisk22" / name), settings, store, ManualClock(1.8e9))
            await store.close()

        asyncio.run(fill())
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {path}\n")
        result = CliRunner().invoke(main, ["history", "--config", str(file)])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert len(lines) == 3
        assert any("redial" in line and "44" in line for line in lines[1:])
        assert any("skip:normal_end" in line for line in lines[1:])
        as_json = CliRunner().invoke(main, ["history", "--config", str(file), "--json"])
        assert as_json.output.count("\n") == 2 and '"cause": 44' in as_json.output

    def test_no_store_yet(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {tmp_path / 'none.sqlite3'}\n")
        result = CliRunner().invoke(main, ["history", "--config", str(file)])
        assert result.exit_code == 1 and "no store" in result.output


class TestReplay:
    """``redial replay`` runs the policy on recordings and originates nothing."""

    def test_drops_and_normal_ends(self, corpus: Path) -> None:
        files = [str(corpus / "asterisk22" / n) for n in ("drop_rtp_timeout.ami", "normal_agent_hangup.ami")]
        result = CliRunner().invoke(main, ["replay", *files, "--at", "2026-11-23T10:00:00+0000"])
        assert result.exit_code == 0, result.output
        drop, normal = result.output.split("normal_agent_hangup.ami:")
        assert "decision: redial (abnormal_end)" in drop and "would ring PJSIP/agent1 first" in drop
        assert "decision: skip (normal_end)" in normal and "would ring" not in normal

    def test_business_hours_apply_to_the_simulated_time(self, corpus: Path, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  hours:\n    timezone: UTC\n    weekly:\n      mon: ['09:00-17:00']\n")
        path = str(corpus / "asterisk22" / "drop_rtp_timeout.ami")
        late = CliRunner().invoke(main, ["replay", "--config", str(file), path, "--at", "2026-11-23T20:00:00+0000"])
        assert "skip (outside_hours)" in late.output
        early = CliRunner().invoke(main, ["replay", "--config", str(file), path, "--at", "2026-11-23T10:00:00+0000"])
        assert "redial (abnormal_end)" in early.output

    def test_json_corpus_without_queue_calls(self, corpus: Path) -> None:
        path = str(corpus / "cacofonisk" / "queue" / "queue_simple.json")
        result = CliRunner().invoke(main, ["replay", path, "--json"])
        assert result.exit_code == 0 and result.output == ""

    def test_unreadable_recording(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        result = CliRunner().invoke(main, ["replay", str(bad)])
        assert result.exit_code == 1 and "cannot replay" in result.output


class TestCheckConfigPerQueue:
    """The effective policy of every overridden queue is printed."""

    def test_override_printed(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 20\n  queue_overrides:\n    vip:\n      callback_window: 5\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)])
        assert result.exit_code == 0
        base, vip = result.output.split("# effective policy of queue vip")
        assert "callback_window: 20.0" in base and "callback_window: 5.0" in vip and "retry:" in vip


def _filled_store(corpus: Path, tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite3"

    async def fill() -> None:
        store = await Store.open(path)
        settings = parse_settings({}, env={})
        names = ("drop_rtp_timeout.ami", "normal_customer_hangup.ami", "drop_bye_q850_41.ami")
        for name in names:
            await replay(load_frames(corpus / "asterisk22" / name), settings, store, ManualClock(1795428000.0))
        await store.close()

    asyncio.run(fill())
    file = tmp_path / "r.yaml"
    file.write_text(f"store:\n  path: {path}\n")
    return file


class TestOperatorCommands:
    """history filters, show and stats on a store filled from the recordings."""

    def test_history_filters(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        every = CliRunner().invoke(main, ["history", "--config", config, "--json", "--since", "2026-11-01"])
        assert every.output.count("\n") == 3
        normal = CliRunner().invoke(main, ["history", "--config", config, "--json", "--outcome", "normal_end"])
        assert normal.output.count("\n") == 1 and '"cause": 16' in normal.output
        none = CliRunner().invoke(main, ["history", "--config", config, "--json", "--agent", "Bob"])
        assert none.output == ""
        later = CliRunner().invoke(main, ["history", "--config", config, "--json", "--since", "2027-01-01"])
        assert later.output == ""
        table = CliRunner().invoke(main, ["history", "--config", config])
        assert len(table.output.splitlines()) == 4 and all(len(line) <= 80 for line in table.output.splitlines())
        bad = CliRunner().invoke(main, ["history", "--config", config, "--since", "soon"])
        assert bad.exit_code == 2 and "--since" in bad.output

    def test_show_timeline(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        result = CliRunner().invoke(main, ["show", "--config", config, "1"])
        assert result.exit_code == 0, result.output
        assert "answered by Alice" in result.output and "cause 44: abnormal" in result.output
        assert "redial waiting" in result.output and "redial originating" in result.output
        missing = CliRunner().invoke(main, ["show", "--config", config, "99"])
        assert missing.exit_code == 1 and "no call with ID 99" in missing.output

    def test_stats(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        result = CliRunner().invoke(
            main, ["stats", "--config", config, "--since", "2026-11-01", "--until", "2027-01-01", "--json"]
        )
        assert result.exit_code == 0, result.output
        assert '"abnormal_ends": 2' in result.output and '"answered": 3' in result.output
        assert '"redials_attempted": 2' in result.output
        table = CliRunner().invoke(
            main, ["stats", "--config", config, "--since", "2026-11-01", "--until", "2027-01-01", "--by", "queue"]
        )
        assert table.output.splitlines()[1].split()[:3] == ["support", "3", "2"]
        assert all(len(line) <= 80 for line in table.output.splitlines())


async def _store_with_pending_redial(tmp_path: Path) -> tuple[Path, int]:
    from redial.policy.classify import Classification, EndKind
    from redial.policy.decide import Decision, Reason, Verdict
    from tests.test_classify import CALL

    path = tmp_path / "s.sqlite3"
    store = await Store.open(path)
    try:
        call_id = await store.record_call(
            CALL, Classification(EndKind.ABNORMAL, "x"), Decision(Verdict.REDIAL, Reason.ABNORMAL_END, "x"), 1.0
        )
        redial = await store.create_redial(call_id or 0, 2.0, "redial", 1.0)
    finally:
        await store.close()
    return path, redial.id


class TestStatusAndCancel:
    """Without a running daemon: a plain answer, and cancel works on the store."""

    def test_status_not_running(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("status:\n  port: 9\n")
        result = CliRunner().invoke(main, ["status", "--config", str(file)])
        assert result.exit_code == 3 and "not running" in result.output

    async def test_status_lists_callbacks_requested(self, tmp_path: Path) -> None:
        """A redial nobody could take shows in `redial status`, with its customer and queue."""
        from redial.service.status import StatusServer
        from tests.ports import free_port

        port = free_port()
        snapshot = {
            "running": True,
            "pid": 42,
            "started_at": 1.0,
            "config": "x",
            "ami": {"logged_in": True, "logins": 1, "host": "127.0.0.1:5038"},
            "tracked_calls": 0,
            "open_redials": [],
            "callbacks_requested": [
                {
                    "redial_id": 7,
                    "customer": "2025550143",
                    "queue": "support",
                    "agent": "PJSIP/agent1",
                    "at": 1800000000.0,
                    "detail": "x",
                },
            ],
        }

        async def cancel(_redial_id: int, _by: str) -> str:
            return ""

        server = StatusServer("127.0.0.1", port, lambda: snapshot, lambda: b"", cancel)
        assert await server.start()
        try:
            file = tmp_path / "r.yaml"
            file.write_text(f"status:\n  port: {port}\n")
            result = await asyncio.to_thread(CliRunner().invoke, main, ["status", "--config", str(file)])
        finally:
            await server.close()
        assert result.exit_code == 0, result.output
        assert "callbacks requested since start (nobody could take them): 1" in result.output
        assert "#7" in result.output and "2025550143" in result.output and "support" in result.output

    async def test_cancel_the_daemon_cannot_answer_is_no_cancel(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The daemon's cancel times out: an error, and the store is not written behind its back."""
        import redial.service.status
        from redial.service.status import StatusServer
        from tests.ports import free_port

        path, redial_id = await _store_with_pending_redial(tmp_path)
        monkeypatch.setattr(redial.service.status, "REQUEST_TIMEOUT", 0.3)
        port = free_port()

        async def stuck(_redial_id: int, _by: str) -> str:
            await asyncio.sleep(10)
            return ""

        server = StatusServer("127.0.0.1", port, dict, lambda: b"", stuck)
        assert await server.start()
        try:
            file = tmp_path / "r.yaml"
            file.write_text(f"store:\n  path: {path}\nstatus:\n  port: {port}\n")
            args = ["cancel", "--config", str(file), str(redial_id), "--by", "alice"]
            result = await asyncio.to_thread(CliRunner().invoke, main, args)
        finally:
            await server.close()
        assert result.exit_code == 1 and "not cancelled" in result.output and "503" in result.output
        store = await Store.open(path)
        try:
            pending = await store.redial(redial_id)
        finally:
            await store.close()
        assert pending is not None and not pending.done

    async def test_cancel_beside_a_daemon_that_holds_the_store(self, tmp_path: Path) -> None:
        """Nothing answers on the endpoint, but a daemon holds the store: refuse, do not write the store."""
        path, redial_id = await _store_with_pending_redial(tmp_path)
        lock = StoreLock(path)
        lock.acquire()
        try:
            file = tmp_path / "r.yaml"
            file.write_text(f"store:\n  path: {path}\nstatus:\n  port: 9\n")
            result = await asyncio.to_thread(
                CliRunner().invoke, main, ["cancel", "--config", str(file), str(redial_id)]
            )
        finally:
            lock.release()
        assert result.exit_code == 1 and "a daemon runs" in result.output

    def test_cancel_in_store(self, tmp_path: Path) -> None:
        from redial.policy.classify import Classification, EndKind
        from redial.policy.decide import Decision, Reason, Verdict
        from tests.test_classify import CALL

        path = tmp_path / "s.sqlite3"

        async def fill() -> int:
            store = await Store.open(path)
            kind = Classification(EndKind.ABNORMAL, "x")
            call_id = await store.record_call(CALL, kind, Decision(Verdict.REDIAL, Reason.ABNORMAL_END, "x"), 1.0)
            redial = await store.create_redial(call_id or 0, 2.0, "redial", 1.0)
            await store.close()
            return redial.id

        redial_id = asyncio.run(fill())
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {path}\nstatus:\n  port: 9\n")
        first = CliRunner().invoke(main, ["cancel", "--config", str(file), str(redial_id), "--by", "alice"])
        assert first.exit_code == 0 and first.output.strip() == f"redial {redial_id} cancelled"
        again = CliRunner().invoke(main, ["cancel", "--config", str(file), str(redial_id)])
        assert again.exit_code == 1 and "only a pending redial" in again.output
        shown = CliRunner().invoke(main, ["show", "--config", str(file), "1"])
        assert "cancelled by alice" in shown.output


class TestColourAndDoctorOptions:
    """NO_COLOR and terminals; the doctor's admin secret."""

    class Tty:
        def isatty(self) -> bool:
            return True

    def test_colour_only_on_a_terminal_without_no_color(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert use_colour(self.Tty()) is True
        assert use_colour(object()) is False
        monkeypatch.setenv("NO_COLOR", "1")
        assert use_colour(self.Tty()) is False

    def test_admin_user_without_secret_is_refused_when_not_interactive(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  secret: s\n  port: 1\n")
        result = CliRunner().invoke(main, ["doctor", "--config", str(file), "--admin-user", "root"], env={})
        assert result.exit_code == 2 and "REDIAL_DOCTOR_SECRET" in result.output

    def test_doctor_without_ami_secret_exits_78(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  port: 1\n")
        result = CliRunner().invoke(main, ["doctor", "--config", str(file)], env={"REDIAL_AMI_SECRET": ""})
        assert result.exit_code == EXIT_CONFIG and "ami.secret" in result.output
