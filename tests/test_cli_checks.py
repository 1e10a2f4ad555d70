"""Tests for redial.tools.cli_checks: ``redial check-config``, ``redial replay`` and ``redial doctor``'s options."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from redial.tools.cli import main
from redial.tools.cli_checks import use_colour
from redial.tools.cli_common import EXIT_CONFIG


class TestCheckConfig:
    """``redial check-config``."""

    def test_valid_prints_effective_settings(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.touch(mode=0o600)
        file.write_text("policy:\n  callback_window: 7\nami:\n  secret: hunter2-hunter2-hunter2\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)], env={})
        assert result.exit_code == 0
        assert "callback_window: 7.0" in result.output and "hunter2" not in result.output


class TestCheckConfigPerQueue:
    """The effective policy of every overridden queue is printed."""

    def test_override_printed(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 20\n  queue_overrides:\n    vip:\n      callback_window: 5\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)])
        assert result.exit_code == 0
        base, vip = result.output.split("# effective policy of queue vip")
        assert "callback_window: 20.0" in base and "callback_window: 5.0" in vip and "retry:" in vip


class TestReplay:
    """``redial replay`` runs the policy on recordings and originates nothing."""

    def test_drops_and_normal_ends(self, corpus: Path) -> None:
        files = [str(corpus / "asterisk22" / n) for n in ("drop_rtp_timeout.ami", "normal_agent_hangup.ami")]
        result = CliRunner().invoke(main, ["replay", *files, "--at", "2026-11-23T10:00:00+0000"])
        assert result.exit_code == 0, result.output
        drop, normal = result.output.split("normal_agent_hangup.ami:")
        assert "decision: redial (abnormal_end)" in drop and "would ring PJSIP/agent1 first" in drop
        assert "decision: skip (normal_end)" in normal and "would ring" not in normal

    def test_business_hours_apply_to_the_simulated_time(self, corpus: Path, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  hours:\n    timezone: UTC\n    weekly:\n      mon: ['09:00-17:00']\n")
        path = str(corpus / "asterisk22" / "drop_rtp_timeout.ami")
        late = CliRunner().invoke(main, ["replay", "--config", str(file), path, "--at", "2026-11-23T20:00:00+0000"])
        assert "skip (outside_hours)" in late.output
        early = CliRunner().invoke(main, ["replay", "--config", str(file), path, "--at", "2026-11-23T10:00:00+0000"])
        assert "redial (abnormal_end)" in early.output

    def test_json_corpus_without_queue_calls(self, corpus: Path) -> None:
        path = str(corpus / "cacofonisk" / "queue" / "queue_simple.json")
        result = CliRunner().invoke(main, ["replay", path, "--json"])
        assert result.exit_code == 0 and result.output == ""

    def test_unreadable_recording(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        result = CliRunner().invoke(main, ["replay", str(bad)])
        assert result.exit_code == 1 and "cannot replay" in result.output


class TestColourAndDoctorOptions:
    """NO_COLOR and terminals; the doctor's admin secret."""

    class Tty:
        def isatty(self) -> bool:
            return True

    def test_colour_only_on_a_terminal_without_no_color(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert use_colour(self.Tty()) is True
        assert use_colour(object()) is False
        monkeypatch.setenv("NO_COLOR", "1")
        assert use_colour(self.Tty()) is False

    def test_admin_user_without_secret_is_refused_when_not_interactive(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  secret: s\n  port: 1\n")
        result = CliRunner().invoke(main, ["doctor", "--config", str(file), "--admin-user", "root"], env={})
        assert result.exit_code == 2 and "REDIAL_DOCTOR_SECRET" in result.output

    def test_doctor_without_ami_secret_exits_78(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  port: 1\n")
        result = CliRunner().invoke(main, ["doctor", "--config", str(file)], env={"REDIAL_AMI_SECRET": ""})
        assert result.exit_code == EXIT_CONFIG and "ami.secret" in result.output


class TestDoctorSecret:
    """The doctor reports a secret the daemon would refuse as failures, with its other checks."""

    def test_placeholder_in_readable_file_is_reported(self, tmp_path: Path) -> None:
        """CHANGE-ME inline in a 0644 file: two failures naming ami.secret, then the AMI check, exit 1."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        file = tmp_path / "r.yaml"
        file.write_text(f"ami:\n  secret: CHANGE-ME\n  port: {port}\n")
        file.chmod(0o644)
        result = CliRunner().invoke(main, ["doctor", "--config", str(file), "--json"], env={"NO_COLOR": "1"})
        assert result.exit_code == 1, result.output
        lines = [json.loads(line) for line in result.output.splitlines()]
        assert [(f["check"], f["status"]) for f in lines] == [("secret", "fail"), ("secret", "fail"), ("AMI", "fail")]
        assert lines[0]["summary"].startswith("ami.secret: the AMI secret is the placeholder")
        assert "every user can read; chmod 600" in lines[1]["summary"] and "CHANGE-ME" not in result.output
