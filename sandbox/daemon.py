"""Run the real ``redial run`` as a subprocess against the sandbox, as an admin would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from sandbox.asterisk import Sandbox

REPO = Path(__file__).resolve().parents[1]


def daemon_config(sandbox: Sandbox, workdir: Path, **policy: Any) -> Path:
    """The shipped example config with the sandbox's AMI, a private store and ``policy`` overrides."""
    data = yaml.safe_load((REPO / "config" / "redial.yaml").read_text())
    data["ami"].update(
        host=sandbox.ami_host, port=sandbox.ami_port, username=sandbox.ami_username, secret=sandbox.ami_secret
    )
    data["ami"]["ping_interval"] = 2
    data["store"]["path"] = str(workdir / "redial.sqlite3")
    # Not the shipped /run/redial: each test daemon has its own, beside its store.
    data["control"]["socket"] = str(workdir / "control.sock")
    data["policy"].update(policy)
    path = workdir / "redial.yaml"
    # It holds the secret inline: redial refuses it readable by others.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(data))
    return path


_PYTEST_TMP = f"{tempfile.gettempdir()}/pytest-of-".encode()


def stop_orphans() -> list[int]:
    """SIGKILL test daemons a killed test session left behind; the pids.

    They keep logging in to the sandbox PBX (with a stale secret) and hold their
    FastAGI port, which breaks the next session's tests. One is an orphan when its
    config is in a pytest temporary directory and no pytest is its parent any more.
    """
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            parent_argv = Path(f"/proc/{parent}/cmdline").read_bytes() if parent != "1" else b""
        except (OSError, IndexError):
            continue
        if argv[1:5] != [b"-m", b"redial.tools.cli", b"run", b"--config"] or len(argv) < 6:
            continue
        if not argv[5].startswith(_PYTEST_TMP) or b"pytest" in parent_argv:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(entry.name), signal.SIGKILL)
            killed.append(int(entry.name))
    return killed


class DaemonProcess:
    """``redial run --config FILE`` in the background, its JSON log lines in a file."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log_path = log_path
        self.extra_env = env or {}
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start and wait until it logged in to AMI (its ``ami_logged_in`` line)."""
        stop_orphans()
        seen = len(self.lines("ami_logged_in"))
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "redial.tools.cli", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while len(self.lines("ami_logged_in")) <= seen:
            if self._proc.poll() is not None:
                raise AssertionError(f"redial exited with {self._proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"redial did not log in to AMI within {timeout} s:\n{self.tail()}")
            time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        """The `redial run` process, while started."""
        return None if self._proc is None else self._proc.pid

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM and wait; the exit code. Issue 5: a clean stop takes under 5 s."""
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
                raise AssertionError(f"redial did not stop within {timeout} s of SIGTERM") from None
        return self._proc.returncode

    def records(self) -> list[dict[str, Any]]:
        """Every JSON log line so far (other lines, such as tracebacks, are skipped)."""
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def lines(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == event]

    def tail(self, count: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-count:])

    def wait_for(self, event: str, timeout: float, **fields: Any) -> dict[str, Any]:
        """The first log line ``event`` whose fields match, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.lines(event):
                if all(record.get(k) == v for k, v in fields.items()):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} {fields} in the daemon's log within {timeout} s:\n{self.tail()}")
            time.sleep(0.1)
