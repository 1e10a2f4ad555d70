"""Tests for systemd/redial.service: supervision settings and the hardening score."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "redial.service"


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


class TestUnit:
    """The unit supervises the daemon as issue 5 asks."""

    def test_supervision(self) -> None:
        unit = settings()
        assert unit["Type"] == ["notify"] and unit["WatchdogSec"] and unit["Restart"] == ["on-failure"]
        assert unit["RestartPreventExitStatus"] == ["78"]
        assert unit["User"] == ["redial"] and unit["StateDirectory"] == ["redial"]
        assert unit["LoadCredential"] == ["ami-secret:/etc/redial/ami-secret"]
        assert "ExecReload" in unit

    def test_control_socket_directory(self) -> None:
        """/run/redial holds the control socket, open to the service's group only; peers keep their uids."""
        unit = settings()
        assert unit["RuntimeDirectory"] == ["redial"] and unit["RuntimeDirectoryMode"] == ["0750"]
        assert "AF_UNIX" in unit["RestrictAddressFamilies"][0].split()
        # In a user namespace of its own, SO_PEERCRED would name every admin "nobody".
        assert unit.get("PrivateUsers", ["no"]) == ["no"]

    def test_exposure_at_most_two(self) -> None:
        result = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        match = re.search(r"Overall exposure level for redial\.service: ([0-9.]+)", result.stdout)
        assert match is not None, result.stdout[-2000:] + result.stderr
        assert float(match.group(1)) <= 2.0, result.stdout[-3000:]
