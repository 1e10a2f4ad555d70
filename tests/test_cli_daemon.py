"""Tests for redial.tools.cli_daemon: ``redial run``, ``redial status`` and ``redial cancel``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from redial.core.commands import NewJob
from redial.core.jobs import JobKind
from redial.store import Store, StoreLock
from redial.tools.cli import main
from redial.tools.cli_common import EXIT_CONFIG
from redial.tools.cli_daemon import EXIT_ALREADY_RUNNING


class TestRun:
    """``redial run`` refuses to start without an AMI secret or beside a running daemon."""

    def test_run_without_secret_exits_78(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {tmp_path / 's.sqlite3'}\n")
        result = CliRunner().invoke(main, ["run", "--config", str(file)], env={"REDIAL_AMI_SECRET": ""})
        assert result.exit_code == EXIT_CONFIG and "ami.secret" in result.output

    @pytest.mark.parametrize(
        ("secret", "mode", "env", "named"),
        [
            ("CHANGE-ME", 0o600, {}, "ami.secret: the AMI secret is the placeholder"),
            ("a-long-random-secret-value", 0o644, {}, "ami.secret: the secret is written in"),
            ("", 0o644, {"REDIAL_AMI_SECRET": "short"}, "REDIAL_AMI_SECRET: the AMI secret has 5 characters"),
        ],
    )
    def test_run_with_a_refused_secret_exits_78(
        self, tmp_path: Path, secret: str, mode: int, env: dict[str, str], named: str
    ) -> None:
        """A placeholder, a readable inline secret or a short override: exit 78 naming where it came from."""
        file = tmp_path / "r.yaml"
        file.write_text(
            f"store:\n  path: {tmp_path / 's.sqlite3'}\n" + (f"ami:\n  secret: {secret}\n" if secret else "")
        )
        file.chmod(mode)
        # A subprocess with a timeout: a daemon that accepted the secret would run on.
        result = subprocess.run(
            [sys.executable, "-m", "redial.tools.cli", "run", "--config", str(file)],
            env={**os.environ, "REDIAL_AMI_SECRET": "", **env},
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert result.returncode == EXIT_CONFIG and named in result.stderr
        assert not (tmp_path / "s.sqlite3").exists()

    def test_run_beside_a_running_daemon_exits_75_naming_it(self, tmp_path: Path) -> None:
        """A second daemon on the same store refuses to start (it would redial every drop twice)."""
        store = tmp_path / "s.sqlite3"
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {store}\n")
        running = StoreLock(store)
        running.acquire()
        try:
            result = CliRunner().invoke(
                main, ["run", "--config", str(file)], env={"REDIAL_AMI_SECRET": "a-secret-of-16-or-more"}
            )
        finally:
            running.release()
        assert result.exit_code == EXIT_ALREADY_RUNNING
        assert f"another redial daemon (pid {os.getpid()}) already runs with the store {store}" in result.output


async def _store_with_pending_redial(tmp_path: Path) -> tuple[Path, int]:
    from redial.policy.classify import Classification, EndKind
    from redial.policy.decide import Decision, Reason, Verdict
    from tests.test_classify import CALL

    path = tmp_path / "s.sqlite3"
    store = await Store.open(path)
    try:
        decision = Decision(Verdict.REDIAL, Reason.ABNORMAL_END, "x")
        job = NewJob(JobKind.DROP_REDIAL, 2.0, "redial", "")
        recorded = await store.record_drop(CALL, Classification(EndKind.ABNORMAL, "x"), decision, 1.0, "", job)
        assert recorded is not None
        redial = recorded[1]
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
            pending = await store.job(redial_id)
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
            job = NewJob(JobKind.DROP_REDIAL, 2.0, "redial", "")
            decision = Decision(Verdict.REDIAL, Reason.ABNORMAL_END, "x")
            recorded = await store.record_drop(CALL, kind, decision, 1.0, "", job)
            assert recorded is not None
            redial = recorded[1]
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
