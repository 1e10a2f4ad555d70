"""Tests for redial.tools.cli: the ``redial`` group has every command, however it is started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from redial.tools.cli import main

REPO = Path(__file__).resolve().parent.parent

COMMANDS = [
    "cancel",
    "check-config",
    "doctor",
    "forget",
    "history",
    "promise",
    "replay",
    "run",
    "show",
    "stats",
    "status",
]


class TestEntryPoints:
    """The group gathers the commands of every cli_* module; python -m starts it as the console script does."""

    def test_every_command_registered(self) -> None:
        assert sorted(main.commands) == COMMANDS

    @pytest.mark.parametrize("module", ["redial", "redial.tools.cli"])
    def test_python_m_lists_every_command(self, module: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        listed = result.stdout.split("Commands:\n", 1)[1].split()
        assert all(command in listed for command in COMMANDS)
