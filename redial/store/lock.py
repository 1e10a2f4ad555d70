"""One daemon per store: an exclusive ``flock`` beside it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from redial.exceptions import AlreadyRunning, StoreError


class StoreLock:
    """The running daemon's claim on its store, an exclusive ``flock`` on ``<store>.lock``.

    Two daemons on one store (a second unit, a manual ``redial run`` beside systemd's)
    would both see every drop and redial it twice. The kernel drops the lock when the
    process dies, so a crash never leaves it stale. CLI commands do not take it.
    """

    def __init__(self, store_path: Path | str) -> None:
        self.store_path = str(store_path)
        self.path = Path(self.store_path + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`AlreadyRunning` naming the holder's pid."""
        if self.store_path == ":memory:" or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise AlreadyRunning(
                f"another redial daemon{holder} already runs with the store {self.store_path}; "
                "stop it first, or give this one its own store.path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def holder(self) -> str | None:
        """Who holds the lock ("a daemon (pid 42)"), None if nobody does; creates nothing, holds nothing after."""
        if self.store_path == ":memory:":
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None  # no daemon ever ran on this store
        except OSError as exc:
            raise StoreError(f"cannot read the lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f"a daemon{_holder(fd)} holds the store {self.store_path}"
        finally:
            os.close(fd)  # closing drops a lock this probe took
        return None

    def release(self) -> None:
        # The file stays: removing it would let a third process lock a new inode.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _holder(fd: int) -> str:
    """`` (pid 42)`` from the lock file the daemon wrote its pid to, or nothing."""
    holder = os.read(fd, 32).decode("ascii", "replace").strip()
    return f" (pid {holder})" if holder.isdigit() else ""
