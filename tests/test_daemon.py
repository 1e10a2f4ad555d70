"""Tests for redial.daemon (the composition root); its live path runs in test_integration.py."""

from __future__ import annotations

from pathlib import Path

from redial.config import load_settings
from redial.daemon import Daemon


class TestReload:
    """SIGHUP: a valid file replaces the policy; an invalid one keeps the running one."""

    def test_valid_file_replaces_policy(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 20\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("policy:\n  callback_window: 7\n")
        daemon.reload()
        assert daemon.settings.policy.callback_window == 7

    def test_invalid_file_keeps_running_policy(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 20\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("policy:\n  callback_windw: 7\n")
        daemon.reload()
        assert daemon.settings.policy.callback_window == 20

    def test_ami_changes_wait_for_restart(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  port: 5038\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("ami:\n  port: 6000\npolicy:\n  callback_window: 3\n")
        daemon.reload()
        assert daemon.settings.ami.port == 5038 and daemon.settings.policy.callback_window == 3

    def test_fastagi_address_waits_for_restart_but_window_applies(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("fastagi:\n  port: 4573\n  returning_window: 900\n")
        daemon = Daemon(load_settings(file, env={}))
        file.write_text("fastagi:\n  port: 4600\n  returning_window: 60\n")
        daemon.reload()
        assert daemon.settings.fastagi.port == 4573 and daemon.settings.fastagi.returning_window == 60
