"""Tests for redial.tools.cli_daemon: ``redial run``, ``redial status`` and ``redial cancel``."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from redial.core.commands import NewJob
from redial.core.jobs import JobKind
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.store import Store, StoreLock
from redial.tools.cli import main
from redial.tools.cli_common import EXIT_CONFIG
from redial.tools.cli_daemon import EXIT_ALREADY_RUNNING, EXIT_CANT_CREATE, EXIT_PORT_UNAVAILABLE
from tests.ports import free_port


class TestRun:
    """``redial run`` refuses to start without an AMI secret or beside a running daemon."""

    @pytest.fixture(autouse=True)
    def _own_umask(self) -> Iterator[None]:
        """``run`` narrows the process's umask: the tests after these keep their own."""
        mask = os.umask(0o022)
        os.umask(mask)
        yield
        os.umask(mask)

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

    def test_run_without_its_control_socket_exits_73(self, tmp_path: Path) -> None:
        """A daemon nobody could ask or cancel through does not start; a file in the way is kept."""
        socket_path = tmp_path / "control.sock"
        socket_path.write_text("not a socket")
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {tmp_path / 's.sqlite3'}\ncontrol:\n  socket: {socket_path}\n")
        env = {"REDIAL_AMI_SECRET": "a-secret-of-16-or-more"}
        result = CliRunner().invoke(main, ["run", "--config", str(file)], env=env)
        assert result.exit_code == EXIT_CANT_CREATE and f"{socket_path} exists and is not a socket" in result.output
        assert socket_path.read_text() == "not a socket"


class TestPromiseApi:
    """The CRM's API: its token is read at the start, and nobody else may hold its port."""

    @pytest.fixture(autouse=True)
    def _own_umask(self) -> Iterator[None]:
        """``run`` narrows the process's umask: the tests after these keep their own."""
        mask = os.umask(0o022)
        os.umask(mask)
        yield
        os.umask(mask)

    @staticmethod
    def _config(tmp_path: Path, token: str, port: int) -> Path:
        token_file = tmp_path / "token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        file = tmp_path / "r.yaml"
        file.write_text(
            f"store:\n  path: {tmp_path / 's.sqlite3'}\ncontrol:\n  socket: {tmp_path / 'control.sock'}\n"
            "fastagi:\n  enabled: false\nstatus:\n  enabled: false\n"
            f"promise:\n  api: {{enabled: true, port: {port}, token_file: {token_file}}}\n"
        )
        return file

    def test_short_token_exits_78_before_anything_listens(self, tmp_path: Path) -> None:
        """A guessable token stops the start, naming the key; no control socket was made."""
        file = self._config(tmp_path, "short", free_port())
        result = CliRunner().invoke(
            main, ["run", "--config", str(file)], env={"REDIAL_AMI_SECRET": "a-secret-of-16-or-more"}
        )
        assert result.exit_code == EXIT_CONFIG
        assert "promise.api.token_file" in result.output and "shorter than 16" in result.output
        assert not (tmp_path / "control.sock").exists()

    def test_squatter_on_the_port_stops_the_daemon(self, tmp_path: Path) -> None:
        """Whoever held the port would get the CRM's token: exit 69, saying so."""
        port = free_port()
        file = self._config(tmp_path, "0123456789abcdef0123", port)
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            env = {"REDIAL_AMI_SECRET": "a-secret-of-16-or-more"}
            result = CliRunner().invoke(main, ["run", "--config", str(file)], env=env)
        assert result.exit_code == EXIT_PORT_UNAVAILABLE
        assert f"promise_api: cannot listen on 127.0.0.1:{port}" in result.output and "CRM's token" in result.output


def _daemon_config(tmp_path: Path, agi_port: int) -> Path:
    """A daemon with its FastAGI on ``agi_port``, no status endpoint, and an AMI nobody answers."""
    file = tmp_path / "r.yaml"
    file.write_text(
        f"store:\n  path: {tmp_path / 's.sqlite3'}\n"
        f"ami:\n  port: {free_port()}\n"
        f"fastagi:\n  port: {agi_port}\n"
        "status:\n  enabled: false\n"
    )
    return file


def _daemon_env() -> dict[str, str]:
    return {**os.environ, "REDIAL_AMI_SECRET": "a-long-enough-test-secret"}


class TestFastAgiPort:
    """Nobody else may hold the FastAGI port: whoever does receives every inbound call's AGI session."""

    def test_squatter_on_the_port_stops_the_daemon_naming_it(self, tmp_path: Path) -> None:
        """A process listening on 127.0.0.1:<fastagi.port> first: the daemon refuses to start and names it."""
        port = free_port()
        argv = [sys.executable, "-m", "redial", "run", "--config", str(_daemon_config(tmp_path, port))]
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            result = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=_daemon_env(), check=False)
        assert result.returncode == EXIT_PORT_UNAVAILABLE, result.stderr[-2000:]
        assert f"fastagi: cannot listen on 127.0.0.1:{port}" in result.stderr
        assert f"held by pid {os.getpid()} (" in result.stderr and "redial-agi.socket" in result.stderr

    async def test_socket_passed_by_systemd_is_served(self, tmp_path: Path) -> None:
        """Socket activation (redial-agi.socket): the daemon serves the FastAGI socket systemd holds for it."""
        port = free_port()
        argv = ["systemd-socket-activate", f"--listen=127.0.0.1:{port}", "--fdname=fastagi", "-E", "REDIAL_AMI_SECRET"]
        argv += [sys.executable, "-m", "redial", "run", "--config", str(_daemon_config(tmp_path, port))]
        daemon = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_daemon_env())
        try:
            for _ in range(50):
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except ConnectionRefusedError:
                    await asyncio.sleep(0.1)
            # The first connection starts the daemon; it answers (no recent drop: no command) and closes.
            writer.write(b"agi_network: yes\nagi_network_script: returning\nagi_callerid: 2025550123\n\n")
            assert await asyncio.wait_for(reader.read(), 15) == b""
            writer.close()
        finally:
            daemon.terminate()
            out, err = daemon.communicate(timeout=15)
        assert '"socket": "systemd"' in out and "fastagi_unavailable" not in out, out[-3000:] + err[-2000:]


async def _store_with_pending_redial(tmp_path: Path) -> tuple[Path, int]:
    from redial.policy.classify import Classification, EndKind
    from redial.policy.decide import Decision, Reason, Verdict
    from tests.builders import CALL

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


def _config(tmp_path: Path, store: Path | None = None) -> Path:
    """A config whose store and control socket are in ``tmp_path``."""
    file = tmp_path / "r.yaml"
    store = store or tmp_path / "s.sqlite3"
    file.write_text(f"store:\n  path: {store}\ncontrol:\n  socket: {tmp_path / 'control.sock'}\n")
    return file


async def _no_promise(_request: PromiseRequest) -> PromiseAnswer:
    raise AssertionError("no promise is asked for here")


class _Daemon:
    """The daemon's control socket, its answers given by the test."""

    def __init__(self, tmp_path: Path, snapshot: dict[str, object], cancel: object) -> None:
        from redial.service.control import ControlServer

        self.server = ControlServer(
            tmp_path / "control.sock",
            None,
            lambda: snapshot,
            cancel,  # type: ignore[arg-type]
            _no_promise,
        )

    async def __aenter__(self) -> _Daemon:
        await self.server.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.server.close()


class TestStatusAndCancel:
    """Through the control socket when a daemon runs; without one a plain answer, and cancel works on the store."""

    def test_status_not_running(self, tmp_path: Path) -> None:
        """Nothing listens and nobody holds the store: not running, exit 3."""
        result = CliRunner().invoke(main, ["status", "--config", str(_config(tmp_path))])
        assert result.exit_code == 3 and "not running" in result.output

    def test_status_of_a_daemon_whose_socket_is_silent(self, tmp_path: Path) -> None:
        """A daemon holds the store but nothing answers on its socket: an error, not "not running"."""
        file = _config(tmp_path)
        lock = StoreLock(tmp_path / "s.sqlite3")
        lock.acquire()
        try:
            result = CliRunner().invoke(main, ["status", "--config", str(file)])
        finally:
            lock.release()
        assert result.exit_code == 1 and f"pid {os.getpid()}" in result.output and "does not answer" in result.output

    async def test_status_lists_callbacks_requested(self, tmp_path: Path) -> None:
        """A redial nobody could take shows in `redial status`, with its customer and queue."""
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

        async with _Daemon(tmp_path, snapshot, cancel):
            file = _config(tmp_path)
            result = await asyncio.to_thread(CliRunner().invoke, main, ["status", "--config", str(file)])
        assert result.exit_code == 0, result.output
        assert "callbacks requested since start (nobody could take them): 1" in result.output
        assert "#7" in result.output and "2025550143" in result.output and "support" in result.output

    async def test_status_shows_queue_callbacks(self, tmp_path: Path) -> None:
        """A waiting queue callback shows its queue and why it waits; an unreached one stays listed."""
        snapshot = {
            "running": True,
            "pid": 42,
            "started_at": 1.0,
            "config": "x",
            "ami": {"logged_in": True, "logins": 1, "host": "127.0.0.1:5038"},
            "tracked_calls": 0,
            "open_redials": [
                {
                    "redial_id": 9,
                    "kind": "queue_callback",
                    "customer": "2025550177",
                    "agent": "",
                    "ring_interface": "",
                    "queue": "cbq",
                    "state": "waiting_agent",
                    "attempt": 1,
                    "due_at": 1800000000.0,
                    "detail": "2 callers who joined cbq earlier still wait",
                }
            ],
            "queue_callbacks_unreached": [
                {
                    "redial_id": 8,
                    "customer": "2025550166",
                    "queue": "cbq",
                    "attempts": 3,
                    "at": 1800000000.0,
                    "detail": "x",
                }
            ],
        }

        async def cancel(_redial_id: int, _by: str) -> str:
            return ""

        async with _Daemon(tmp_path, snapshot, cancel):
            file = _config(tmp_path)
            result = await asyncio.to_thread(CliRunner().invoke, main, ["status", "--config", str(file)])
        assert result.exit_code == 0, result.output
        assert "#9     callback 2025550177" in result.output and "queue cbq" in result.output
        assert "2 callers who joined cbq earlier still wait" in result.output
        assert "queue callbacks not reached since start: 1" in result.output
        assert "#8" in result.output and "after 3 attempt(s)" in result.output

    async def test_cancel_through_the_daemon_is_by_the_caller(self, tmp_path: Path) -> None:
        """The daemon records the user the kernel names; --by is only a comment."""
        from redial.core.jobs import CancelAnswer
        from redial.service.control import user_name

        asked: list[tuple[int, str]] = []

        async def cancel(redial_id: int, by: str) -> CancelAnswer:
            asked.append((redial_id, by))
            return CancelAnswer(True, f"redial {redial_id} cancelled")

        async with _Daemon(tmp_path, {}, cancel):
            args = ["cancel", "--config", str(_config(tmp_path)), "7", "--by", "bob"]
            result = await asyncio.to_thread(CliRunner().invoke, main, args)
        assert result.exit_code == 0 and result.output.strip() == "redial 7 cancelled", result.output
        assert asked == [(7, f"{user_name(os.geteuid())} (comment: bob)")]

    async def test_cancel_the_daemon_cannot_answer_is_no_cancel(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The daemon's cancel times out: an error, and the store is not written behind its back."""
        import redial.service.status

        path, redial_id = await _store_with_pending_redial(tmp_path)
        monkeypatch.setattr(redial.service.status, "REQUEST_TIMEOUT", 0.3)

        async def stuck(_redial_id: int, _by: str) -> str:
            await asyncio.sleep(10)
            return ""

        async with _Daemon(tmp_path, {}, stuck):
            args = ["cancel", "--config", str(_config(tmp_path, path)), str(redial_id), "--by", "alice"]
            result = await asyncio.to_thread(CliRunner().invoke, main, args)
        assert result.exit_code == 1 and "not cancelled" in result.output and "503" in result.output
        store = await Store.open(path)
        try:
            pending = await store.job(redial_id)
        finally:
            await store.close()
        assert pending is not None and not pending.done

    async def test_cancel_beside_a_daemon_that_holds_the_store(self, tmp_path: Path) -> None:
        """Nothing answers on the socket, but a daemon holds the store: refuse, do not write the store."""
        path, redial_id = await _store_with_pending_redial(tmp_path)
        lock = StoreLock(path)
        lock.acquire()
        try:
            file = _config(tmp_path, path)
            result = await asyncio.to_thread(
                CliRunner().invoke, main, ["cancel", "--config", str(file), str(redial_id)]
            )
        finally:
            lock.release()
        assert result.exit_code == 1 and "a daemon runs" in result.output and "control socket" in result.output

    def test_cancel_in_store(self, tmp_path: Path) -> None:
        """No daemon: the store records the command's own user, --by only as a comment."""
        from redial.policy.classify import Classification, EndKind
        from redial.policy.decide import Decision, Reason, Verdict
        from redial.service.control import user_name
        from tests.builders import CALL

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
        file = _config(tmp_path, path)
        first = CliRunner().invoke(main, ["cancel", "--config", str(file), str(redial_id), "--by", "alice"])
        assert first.exit_code == 0 and first.output.strip() == f"redial {redial_id} cancelled"
        again = CliRunner().invoke(main, ["cancel", "--config", str(file), str(redial_id)])
        assert again.exit_code == 1 and "only a pending redial" in again.output
        shown = CliRunner().invoke(main, ["show", "--config", str(file), "1"])
        assert f"cancelled by {user_name(os.geteuid())} (comment: alice)" in shown.output
