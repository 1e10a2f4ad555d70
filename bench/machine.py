"""What the benchmarks ran on, and the CPU time and memory of processes, read from /proc."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    """uname, CPU model, cores and memory of this machine, and the repository's commit."""
    uname = platform.uname()
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
        # The daemon runs from this working tree: say whether it differs from the commit.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "redial", "config"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.split("\n")
    except OSError:
        commit, dirty = "", []
    return {
        "uname": " ".join((uname.system, uname.node, uname.release, uname.version, uname.machine)),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "mem_total_mb": round(mem_kb / 1024),
        "python": platform.python_version(),
        "commit": commit,
        "uncommitted_changes": [line[3:] for line in dirty if line.strip()],
    }


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_path(kind: str) -> Path:
    """bench/results/<kind>-<UTC date and time>.json (the directory is created)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return RESULTS_DIR / f"{kind}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}.json"


@dataclass(frozen=True)
class ProcSample:
    """CPU seconds (user + sys, all threads) and memory of one process at one moment."""

    cpu: float
    rss_mb: float
    peak_rss_mb: float  # VmHWM: the highest resident size the process ever had

    @classmethod
    def read(cls, pid: int) -> ProcSample | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        # Fields after the command name, which may itself hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime = int(fields[11]), int(fields[12])
        mem = {}
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                mem[key] = int(value.split()[0]) / 1024
        return cls((utime + stime) / CLOCK_TICKS, mem.get("VmRSS", 0.0), mem.get("VmHWM", 0.0))


@dataclass(frozen=True)
class ThreadsSample:
    """Every thread of a process at one moment: its voluntary context switches (the times it blocked
    and was woken: its wake-ups) and the CPU all of them used, in nanoseconds where the kernel keeps
    schedstat (else from /proc/<pid>/stat's clock ticks, 10 ms steps)."""

    pid: int
    voluntary: dict[int, int]  # thread id -> voluntary_ctxt_switches
    cpu_ns: int

    @classmethod
    def read(cls, pid: int) -> ThreadsSample | None:
        voluntary: dict[int, int] = {}
        cpu_ns = 0
        schedstat = True
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            return None
        for task in tasks:
            try:
                status = (task / "status").read_text()
            except OSError:
                continue  # the thread ended just now
            for line in status.splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary[int(task.name)] = int(line.split()[1])
            try:
                cpu_ns += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                schedstat = False
        if not schedstat:
            sample = ProcSample.read(pid)
            if sample is None:
                return None
            cpu_ns = round(sample.cpu * 1e9)
        return cls(pid, voluntary, cpu_ns)


def file_bytes(paths: Iterable[Path]) -> int:
    """The sizes of the files that exist, added up."""
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def sqlite_files(path: Path) -> list[Path]:
    """A SQLite database in WAL mode: its file, the -wal and the -shm."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores (from /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


class Sampler:
    """Samples CPU and memory of the named processes once a second, in a thread."""

    def __init__(self, pids: Mapping[str, int], interval: float = 1.0) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._lock = threading.Lock()

    def sample(self) -> dict[str, Any]:
        busy, total = system_cpu()
        row: dict[str, Any] = {"t": time.monotonic(), "system_busy": busy, "system_total": total}
        for name, pid in self.pids.items():
            s = ProcSample.read(pid)
            if s is not None:
                row[name] = s
        with self._lock:
            self.samples.append(row)
        return row

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def peak_rss(self, name: str) -> float:
        with self._lock:
            return max((row[name].rss_mb for row in self.samples if name in row), default=0.0)

    def usage(self, start: Mapping[str, Any], end: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
        """CPU each process used between two samples; a process that exited before `end` (a UAC that
        finished) counts up to its last sample."""
        wall = end["t"] - start["t"]
        out: dict[str, Any] = {"wall_s": round(wall, 1)}
        for name in names:
            a = start.get(name)
            b = next((row[name] for row in reversed(self.samples) if row["t"] <= end["t"] and name in row), None)
            if a is None or b is None:
                continue
            cpu = b.cpu - a.cpu
            out[name] = {
                "cpu_s": round(cpu, 2),
                "cpu_pct_of_one_core": round(100 * cpu / wall, 1) if wall else 0.0,
                "rss_mb_last": round(b.rss_mb, 1),
            }
        busy = end["system_busy"] - start["system_busy"]
        total = end["system_total"] - start["system_total"]
        out["machine_busy_pct"] = round(100 * busy / total, 1) if total else 0.0
        return out


class SoakSeries:
    """Every `every` seconds, a point: a process's RSS (a fresh sample of the Sampler), the bytes of
    some files (the store) and a count (the calls placed), `t` in seconds since `start`."""

    def __init__(
        self, sampler: Sampler, name: str, files: list[Path], every: float, calls_placed: Callable[[], int]
    ) -> None:
        self.sampler = sampler
        self.name = name
        self.files = files
        self.every = every
        self.calls_placed = calls_placed
        self.points: list[dict[str, float]] = []
        self.began = self._next = 0.0

    def start(self) -> None:
        self.began = self._next = time.monotonic()
        self.point()

    def point(self, force: bool = False) -> None:
        """Take a point if one is due (or `force`); call it often, it keeps its own pace."""
        now = time.monotonic()
        if now < self._next and not force:
            return
        while self._next <= now:
            self._next += self.every
        sample = self.sampler.sample().get(self.name)
        if sample is not None:
            self.points.append(
                {
                    "t": round(now - self.began, 1),
                    "rss_mb": round(sample.rss_mb, 2),
                    "store_bytes": file_bytes(self.files),
                    "calls_placed": self.calls_placed(),
                }
            )
