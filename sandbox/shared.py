"""One sandbox Asterisk per process, shared by its users, and a registry of SIPp processes.

`shared_sandbox()` is backed by one reference-counted Asterisk per process, so several users
(the test session's fixture, a module's own, the demo) may each enter it without a second
Asterisk being started on the same ports. The last user to leave stops it and checks that
nothing is left behind (no Asterisk, ROOT/proc unmounted). The pytest fixtures over these are
in tests/conftest.py.

REDIAL_SANDBOX_EXTENSIONS / REDIAL_SANDBOX_MANAGER point the sandbox at another copy of
config/extensions_redial.conf / config/manager_redial.conf (to try a fix without editing them).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from .asterisk import Sandbox
from .asterisk_conf import SHIPPED_EXTENSIONS, SHIPPED_MANAGER, SandboxError
from .root import mountpoints
from .sipp import WORK_BASE, SippProcess

P = TypeVar("P", bound=SippProcess)

_lock = threading.Lock()
_shared: Sandbox | None = None
_users = 0


def _new_sandbox() -> Sandbox:
    ext = os.environ.get("REDIAL_SANDBOX_EXTENSIONS")
    man = os.environ.get("REDIAL_SANDBOX_MANAGER")
    return Sandbox(
        extensions_conf=Path(ext) if ext else SHIPPED_EXTENSIONS,
        manager_conf=Path(man) if man else SHIPPED_MANAGER,
        systemname=os.environ.get("REDIAL_SANDBOX_SYSTEMNAME", "pbx-east") or None,
    )


@contextmanager
def shared_sandbox() -> Iterator[Sandbox]:
    """The process-wide sandbox: started by the first user, stopped after the last."""
    global _shared, _users
    with _lock:
        if _shared is None:
            shutil.rmtree(WORK_BASE, ignore_errors=True)  # SIPp work dirs of an earlier run
            sandbox = _new_sandbox()
            sandbox.start()
            _shared = sandbox
        _users += 1
        current = _shared
    try:
        yield current
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _shared = None
                _stop_and_check(current)


def _stop_and_check(sandbox: Sandbox) -> None:
    pid = sandbox.pid
    sandbox.stop()
    if pid is not None and Path(f"/proc/{pid}").exists():
        raise SandboxError(f"Asterisk {pid} still running after stop()")
    proc_dir = str((sandbox.root / "proc").resolve())
    if proc_dir in mountpoints() and not sandbox._root_in_use():
        raise SandboxError(f"{proc_dir} still mounted after stop()")


class Sipps:
    """The SIPp processes of one test: add() starts one; all are stopped at teardown."""

    def __init__(self) -> None:
        self.procs: list[SippProcess] = []

    def add(self, proc: P) -> P:
        self.procs.append(proc)
        proc.start()  # a no-op for a customer_call(), already started
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()


@contextmanager
def sipp_registry() -> Iterator[Sipps]:
    """A registry of SIPp processes, all stopped on exit, on success or error."""
    registry = Sipps()
    try:
        yield registry
    finally:
        registry.stop_all()
