"""Tests for systemd/redial.service: supervision settings and the hardening score."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from redial.config import FastAgiSettings, StatusSettings
from redial.config.promise_settings import PromiseApi
from redial.service.agi import ReturningCallerService

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "redial.service"
SOCKET = UNIT.with_name("redial-agi.socket")


def settings(unit: Path = UNIT) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
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

    def test_memory_is_capped(self) -> None:
        """A leak stops at MemoryMax=, long before it starves the Asterisk beside it."""
        unit = settings()
        assert unit["MemoryMax"] == ["256M"] and unit["MemoryHigh"] == ["192M"]

    def test_binds_only_its_own_ports(self) -> None:
        """bind() is denied except on the default FastAGI, status and promise API ports, which it listens on."""
        unit = settings()
        ports = FastAgiSettings().port, StatusSettings().port, PromiseApi().port
        assert unit["SocketBindAllow"] == [f"tcp:{port}" for port in ports]
        assert unit["SocketBindDeny"] == ["any"]

    def test_asterisk_ordering_without_a_hard_dependency(self) -> None:
        """After Asterisk, under its own unit or FreePBX's, but wanting neither (the AMI link reconnects)."""
        unit = settings()
        after = " ".join(unit["After"]).split()
        assert {"asterisk.service", "freepbx.service", "redial-agi.socket"} <= set(after)
        assert "Wants" not in unit and "Requires" not in unit and "BindsTo" not in unit

    def test_exposure_at_most_one_and_a_half(self) -> None:
        result = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        match = re.search(r"Overall exposure level for redial\.service: ([0-9.]+)", result.stdout)
        assert match is not None, result.stdout[-2000:] + result.stderr
        assert float(match.group(1)) <= 1.5, result.stdout[-3000:]


class TestAgiSocket:
    """systemd/redial-agi.socket holds the FastAGI port for the daemon (socket activation)."""

    def test_socket_matches_the_daemon(self) -> None:
        """The shipped address, the name the FastAGI service looks for, and the service it belongs to."""
        unit = settings(SOCKET)
        defaults = FastAgiSettings()
        assert unit["ListenStream"] == [f"{defaults.host}:{defaults.port}"]
        assert unit["FileDescriptorName"] == [ReturningCallerService.name]
        assert unit["Service"] == ["redial.service"] and unit["WantedBy"] == ["sockets.target"]
