"""A real Asterisk 22 (Debian unstable package) running in a chroot, configured for redial tests.

The root is built once with debootstrap and cached; each `Sandbox` writes its own config set into
ROOT/etc/redial-sandbox-<ami port>/ (with its own log, run, spool and db directories under
ROOT/var/tmp/), so it never touches the stock /etc/asterisk of the root and two sandboxes on
different ports do not clash. What goes into that directory is rendered by asterisk_conf.py; this
module runs, restarts and stops Asterisk in the root that root.py builds.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .asterisk_conf import (
    DEFAULT_AGENT_PORTS,
    DEFAULT_AMI_PORT,
    DEFAULT_CUSTOMER_PHONE_PORT,
    DEFAULT_MEMBERS,
    DEFAULT_RTP_PORTS,
    DEFAULT_SALES_MEMBERS,
    DEFAULT_SIP_PORT,
    LOCALHOST,
    SHIPPED_EXTENSIONS,
    SHIPPED_MANAGER,
    SandboxError,
    config_files,
)
from .root import ensure_root, mountpoints


class Sandbox:
    """One Asterisk in the cached chroot, on its own ports, with the shipped redial config.

    Use as a context manager, or call start() and stop(). stop() is idempotent and start()
    cleans up after itself when it fails half-way.
    """

    ami_host = LOCALHOST
    sip_host = LOCALHOST
    ami_username = "redial"
    observer_username = "observer"

    def __init__(
        self,
        *,
        root: Path | None = None,
        ami_port: int = DEFAULT_AMI_PORT,
        sip_port: int = DEFAULT_SIP_PORT,
        rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS,
        rtp_timeout: int | None = 3,
        members: Sequence[tuple[str, str]] = DEFAULT_MEMBERS,
        sales_members: Sequence[tuple[str, str]] = DEFAULT_SALES_MEMBERS,
        agent_ports: dict[str, int] | None = None,
        customer_phone_port: int = DEFAULT_CUSTOMER_PHONE_PORT,
        queue_timeout: int = 15,
        queue_strategy: str = "ringall",
        extensions_conf: Path = SHIPPED_EXTENSIONS,
        manager_conf: Path = SHIPPED_MANAGER,
        start_timeout: float = 30.0,
        systemname: str | None = None,
        fastagi_port: int | None = None,
    ) -> None:
        self._root_arg = root
        self.ami_port = ami_port
        self.sip_port = sip_port
        self.rtp_ports = rtp_ports
        self.rtp_timeout = rtp_timeout
        self.members = tuple(members)
        self.sales_members = tuple(sales_members)
        self.agent_ports = dict(DEFAULT_AGENT_PORTS if agent_ports is None else agent_ports)
        self.customer_phone_port = customer_phone_port
        self.queue_timeout = queue_timeout
        self.queue_strategy = queue_strategy  # of every queue (ringall rings all free members)
        self.extensions_conf = extensions_conf
        self.manager_conf = manager_conf
        self.start_timeout = start_timeout
        # asterisk.conf's systemname prefixes every Uniqueid and Linkedid (pbx-east-1796173056.0).
        self.systemname = systemname
        # The dialplan's returning-caller FastAGI port; None keeps the shipped 4573.
        self.fastagi_port = fastagi_port
        # Fresh secrets per sandbox: nothing in the tests may rely on a known password.
        self.ami_secret = "test-" + secrets.token_hex(12)
        self.observer_secret = "observer-" + secrets.token_hex(12)
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._state_cleared = False
        self.start_seconds: float | None = None  # how long the last start() took

    # ---- paths -------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = self._root_arg if self._root_arg is not None else ensure_root()
        return self._root

    @property
    def name(self) -> str:
        return f"redial-sandbox-{self.ami_port}"

    @property
    def conf_dir_in_root(self) -> str:
        """The config directory as Asterisk (inside the chroot) sees it."""
        return f"/etc/{self.name}"

    @property
    def conf_dir(self) -> Path:
        return self.root / "etc" / self.name

    @property
    def asterisk_conf_in_root(self) -> str:
        return f"{self.conf_dir_in_root}/asterisk.conf"

    @property
    def state_dir_in_root(self) -> str:
        return f"/var/tmp/{self.name}"

    @property
    def state_dir(self) -> Path:
        return self.root / "var" / "tmp" / self.name

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def log_path(self) -> Path:
        """Asterisk's full log (notices, warnings, errors, verbose 4) on the host."""
        return self.log_dir / "full"

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def queue_log_path(self) -> Path:
        return self.log_dir / "queue_log"

    @property
    def observer_credentials(self) -> tuple[str, str]:
        return (self.observer_username, self.observer_secret)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def asterisk_pid(self) -> int | None:
        """The Asterisk process itself (`chroot` execs it, so normally the same as pid)."""
        pid = self.pid
        if pid is None:
            return None
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() != "asterisk":
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                if children:
                    return int(children[0])
        return pid

    # ---- config ------------------------------------------------------------------------
    def write_config(self) -> None:
        """(Re)write the config directory; start() calls this."""
        if self.conf_dir.exists():
            shutil.rmtree(self.conf_dir)
        self.conf_dir.mkdir(parents=True)
        for fname, text in config_files(self).items():
            (self.conf_dir / fname).write_text(text, encoding="utf-8")
        # The AMI secrets are in there: keep them from other local users.
        for path in self.conf_dir.iterdir():
            path.chmod(0o600)

    # ---- lifecycle ---------------------------------------------------------------------
    def _port_open(self, port: int) -> bool:
        try:
            with socket.create_connection((self.ami_host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def _mount_proc(self) -> None:
        target = self.root / "proc"
        if str(target.resolve()) in mountpoints():
            return
        subprocess.run(["mount", "-t", "proc", "proc", str(target)], check=True, timeout=30, capture_output=True)

    def _pids_in_root(self) -> list[int]:
        """Processes whose root directory is the chroot (this or another sandbox's Asterisk)."""
        root = str(self.root.resolve())
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "root") == root:
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def _root_in_use(self) -> bool:
        """Is any process (another sandbox) still running inside the chroot?"""
        return bool(self._pids_in_root())

    @property
    def _owner_file(self) -> Path:
        """Holds the pid of the process that started this sandbox's Asterisk."""
        return self.root / "var" / "tmp" / f"{self.name}.owner"

    def _stop_stale(self) -> None:
        """Stop an Asterisk of this same sandbox (same config path) left by a killed session.

        Only when the process that started it is gone (a live test run elsewhere keeps its
        Asterisk), and matched by its root and its exact `-C <our asterisk.conf>`.
        """
        try:
            owner = int(self._owner_file.read_text().strip())
        except (OSError, ValueError):
            owner = 0
        if owner == os.getpid() or (owner > 0 and Path(f"/proc/{owner}").exists()):
            return
        conf = self.asterisk_conf_in_root.encode()
        stale: list[int] = []
        for pid in self._pids_in_root():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"-C" in argv and conf in argv and b"-f" in argv:
                stale.append(pid)
        for pid in stale:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while stale and time.monotonic() < deadline:
            stale = [pid for pid in stale if Path(f"/proc/{pid}").exists()]
            time.sleep(0.05)
        for pid in stale:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _umount_proc(self) -> None:
        """Unmount ROOT/proc once nothing runs in the root any more (whoever mounted it: with
        two sandboxes, the last one to stop unmounts)."""
        if self._root is None:  # never started: do not build or look up a root just to stop
            return
        target = str((self._root / "proc").resolve())
        if target in mountpoints() and not self._root_in_use():
            subprocess.run(["umount", target], check=False, timeout=30, capture_output=True)
            if target in mountpoints():
                subprocess.run(["umount", "-l", target], check=False, timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Asterisk's stdout and full log, for error messages."""
        parts: list[str] = []
        for path in (self.stdout_path, self.log_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            parts.append(f"--- {path} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts) or "(no Asterisk log written)"

    def start(self) -> None:
        """Write the config, start Asterisk and wait until AMI accepts a login (fully booted)."""
        if self.running:
            return
        if os.geteuid() != 0:
            raise SandboxError("the Asterisk sandbox needs root (chroot, mount)")
        began = time.monotonic()
        self._stop_stale()
        if self._port_open(self.ami_port):
            raise SandboxError(
                f"something already listens on {self.ami_host}:{self.ami_port}: a sandbox left "
                "running by an earlier session? (ps -ef | grep 'asterisk -f')"
            )
        try:
            self.write_config()
            if not self._state_cleared:
                # A fresh sandbox starts with empty logs and astdb; restart() keeps them.
                if self.state_dir.exists():
                    shutil.rmtree(self.state_dir)
                self._state_cleared = True
            for sub in ("log", "run", "spool", "db", "cache"):
                (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
            for stale in (self.state_dir / "run").iterdir():  # a crashed run's ctl socket
                stale.unlink()
            self._mount_proc()
            with open(self.stdout_path, "ab") as out:
                self._proc = subprocess.Popen(
                    ["chroot", str(self.root), "asterisk", "-f", "-n", "-C", self.asterisk_conf_in_root],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # not killed by a ^C meant for pytest
            self._owner_file.write_text(f"{os.getpid()}\n")
            self._wait_ready(began + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        last_error = "no connection yet"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise SandboxError(f"Asterisk exited with {self._proc.returncode} while starting\n" + self.log_tail())
            try:
                if _ami_login_fully_booted(
                    self.ami_host, self.ami_port, self.observer_username, self.observer_secret, deadline
                ):
                    return
                last_error = "login refused"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        raise SandboxError(
            f"AMI on {self.ami_host}:{self.ami_port} did not accept a login within "
            f"{self.start_timeout:.0f} s ({last_error})\n" + self.log_tail()
        )

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run one Asterisk CLI command (asterisk -rx) and return its output."""
        proc = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-C", self.asterisk_conf_in_root, "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise SandboxError(f"asterisk -rx {command!r} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc.stdout

    def stop(self) -> None:
        """Stop Asterisk (core stop now, then SIGTERM, then SIGKILL) and unmount proc."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(SandboxError, subprocess.TimeoutExpired, OSError):
                self.cli("core stop now", timeout=5)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self._proc = None
        self._umount_proc()

    def restart(self) -> None:
        """Stop and start again with the same config, ports and secrets (logs are kept)."""
        self.stop()
        self.start()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _ami_login_fully_booted(host: str, port: int, username: str, secret: str, deadline: float) -> bool:
    """Log in over a plain socket; True once Asterisk says FullyBooted, False if refused.

    AMI listens before all modules are loaded: a login alone does not mean PJSIP is up.
    FullyBooted is sent to a session at login when boot is complete, or later when it completes.
    """
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.settimeout(0.5)
        sock.sendall((f"Action: Login\r\nActionID: ready\r\nUsername: {username}\r\nSecret: {secret}\r\n\r\n").encode())
        buf = b""
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return False
            buf += chunk
            if b"Response: Error" in buf:
                return False
            if b"Event: FullyBooted" in buf:
                return True
    return False
