"""Tests for redial.tools.cli_common: what every command shares, a broken configuration and a missing store."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from redial.tools.cli import main
from redial.tools.cli_common import EXIT_CONFIG


class TestSettingsAndStore:
    """A bad key exits 78 naming it; a store the daemon has not created yet exits 1."""

    def test_bad_key_exits_78_naming_it(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  callback_windw: 7\n")
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)])
        assert result.exit_code == EXIT_CONFIG
        assert "policy.callback_windw" in result.output

    def test_no_store_yet(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {tmp_path / 'none.sqlite3'}\n")
        result = CliRunner().invoke(main, ["history", "--config", str(file)])
        assert result.exit_code == 1 and "no store" in result.output
