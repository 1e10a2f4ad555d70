"""The cached chroot the sandbox Asterisk runs in: a minimal Debian unstable with Asterisk 22.

Built once with debootstrap (about a minute, 500 MB) into $REDIAL_SANDBOX_CACHE/asterisk-root,
default ~/.cache/redial/asterisk-root, outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .asterisk_conf import SandboxError

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "sid"  # the first Debian suite with Asterisk 22 (bookworm has none)


def cache_dir() -> Path:
    """`$REDIAL_SANDBOX_CACHE`, else ~/.cache/redial."""
    env = os.environ.get("REDIAL_SANDBOX_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "redial"


def _root_is_complete(root: Path) -> bool:
    return (root / "usr" / "sbin" / "asterisk").is_file()


def mountpoints() -> list[str]:
    with open("/proc/mounts", encoding="utf-8") as mounts:
        # Octal escapes (\040 for a space) are left alone: our paths have none.
        return [line.split()[1] for line in mounts if len(line.split()) > 1]


def _umount_below(path: Path) -> None:
    """Unmount everything mounted at or below path, deepest first (before deleting a tree)."""
    prefix = str(path.resolve())
    for mnt in sorted((m for m in mountpoints() if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], check=False, timeout=30)


def ensure_root(cache: Path | None = None, mirror: str = DEBIAN_MIRROR, timeout: float = 900.0) -> Path:
    """Return the cached Asterisk chroot, building it with debootstrap first if it is missing.

    The build goes into a `.tmp` sibling that is renamed only once complete, so an interrupted
    build is never mistaken for a finished one (it is thrown away by the next call).
    """
    root = (cache or cache_dir()) / "asterisk-root"
    if _root_is_complete(root):
        return root
    if root.exists():
        raise SandboxError(f"{root} exists but has no usr/sbin/asterisk: remove it to rebuild")
    if os.geteuid() != 0:
        raise SandboxError("building the Asterisk root needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise SandboxError(
            f"no Asterisk root at {root} and debootstrap is not installed "
            "(apt-get install debootstrap), needed to build it"
        )
    tmp = root.with_name(root.name + ".tmp")
    if tmp.exists():
        _umount_below(tmp)  # a killed build may have left proc/sys mounted inside
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["debootstrap", "--variant=minbase", "--include=asterisk", DEBIAN_SUITE, str(tmp), mirror]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        _umount_below(tmp)
        raise SandboxError(f"{' '.join(cmd)} took more than {timeout:.0f} s") from exc
    _umount_below(tmp)
    if proc.returncode != 0 or not _root_is_complete(tmp):
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise SandboxError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    os.rename(tmp, root)  # atomic on one file system: the root is either absent or complete
    return root
