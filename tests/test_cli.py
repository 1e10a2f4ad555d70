"""Tests for redial.cli."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from redial.cli import EXIT_CONFIG, main
from redial.clock import ManualClock
from redial.config import parse_settings
from redial.replay import load_frames, replay
from redial.store import Store


class TestCheckConfig:
    """``redial check-config``."""

    def test_valid_prints_effective_settings(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_window: 7\nami:\n  secret: hunter2\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)], env={})
        assert result.exit_code == 0
        assert "callback_window: 7.0" in result.output and "hunter2" not in result.output

    def test_bad_key_exits_78_naming_it(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_windw: 7\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)])
        assert result.exit_code == EXIT_CONFIG
        assert "policy.callback_windw" in result.output

    def test_run_without_secret_exits_78(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {tmp_path / 's.sqlite3'}\n")
        result = CliRunner().invoke(main, ["run", "--config", str(file)], env={"REDIAL_AMI_SECRET": ""})
        assert result.exit_code == EXIT_CONFIG and "ami.secret" in result.output


class TestHistory:
    """``redial history`` reads what the daemon recorded."""

    def test_lists_drop_and_normal(self, corpus: Path, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite3"

        async def fill() -> None:
            store = await Store.open(path)
            settings = parse_settings({}, env={})
            for name in ("drop_rtp_timeout.ami", "normal_customer_hangup.ami"):
                await replay(load_frames(corpus / "asterisk22" / name), settings, store, ManualClock(1.8e9))
            await store.close()

        asyncio.run(fill())
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {path}\n")
        result = CliRunner().invoke(main, ["history", "--config", str(file)])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert len(lines) == 3
        assert any("redial" in line and "44" in line for line in lines[1:])
        assert any("skip:normal_end" in line for line in lines[1:])
        as_json = CliRunner().invoke(main, ["history", "--config", str(file), "--json"])
        assert as_json.output.count("\n") == 2 and '"cause": 44' in as_json.output

    def test_no_store_yet(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {tmp_path / 'none.sqlite3'}\n")
        result = CliRunner().invoke(main, ["history", "--config", str(file)])
        assert result.exit_code == 1 and "no store" in result.output
