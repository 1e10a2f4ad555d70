"""Tests for redial.tools.cli_records: ``redial history``, ``redial show`` and ``redial stats``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from redial.clock import ManualClock
from redial.config import parse_settings
from redial.service.replay import load_frames, replay
from redial.store import Store
from redial.tools.cli import main


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


def _filled_store(corpus: Path, tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite3"

    async def fill() -> None:
        store = await Store.open(path)
        settings = parse_settings({}, env={})
        names = ("drop_rtp_timeout.ami", "normal_customer_hangup.ami", "drop_bye_q850_41.ami")
        for name in names:
            await replay(load_frames(corpus / "asterisk22" / name), settings, store, ManualClock(1795428000.0))
        await store.close()

    asyncio.run(fill())
    file = tmp_path / "r.yaml"
    file.write_text(f"store:\n  path: {path}\n")
    return file


class TestOperatorCommands:
    """history filters, show and stats on a store filled from the recordings."""

    def test_history_filters(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        every = CliRunner().invoke(main, ["history", "--config", config, "--json", "--since", "2026-11-01"])
        assert every.output.count("\n") == 3
        normal = CliRunner().invoke(main, ["history", "--config", config, "--json", "--outcome", "normal_end"])
        assert normal.output.count("\n") == 1 and '"cause": 16' in normal.output
        none = CliRunner().invoke(main, ["history", "--config", config, "--json", "--agent", "Bob"])
        assert none.output == ""
        later = CliRunner().invoke(main, ["history", "--config", config, "--json", "--since", "2027-01-01"])
        assert later.output == ""
        table = CliRunner().invoke(main, ["history", "--config", config])
        assert len(table.output.splitlines()) == 4 and all(len(line) <= 80 for line in table.output.splitlines())
        bad = CliRunner().invoke(main, ["history", "--config", config, "--since", "soon"])
        assert bad.exit_code == 2 and "--since" in bad.output

    def test_show_timeline(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        result = CliRunner().invoke(main, ["show", "--config", config, "1"])
        assert result.exit_code == 0, result.output
        assert "answered by Alice" in result.output and "cause 44: abnormal" in result.output
        assert "redial waiting" in result.output and "redial originating" in result.output
        missing = CliRunner().invoke(main, ["show", "--config", config, "99"])
        assert missing.exit_code == 1 and "no call with ID 99" in missing.output

    def test_stats(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        result = CliRunner().invoke(
            main, ["stats", "--config", config, "--since", "2026-11-01", "--until", "2027-01-01", "--json"]
        )
        assert result.exit_code == 0, result.output
        assert '"abnormal_ends": 2' in result.output and '"answered": 3' in result.output
        assert '"redials_attempted": 2' in result.output
        table = CliRunner().invoke(
            main, ["stats", "--config", config, "--since", "2026-11-01", "--until", "2027-01-01", "--by", "queue"]
        )
        assert table.output.splitlines()[1].split()[:3] == ["support", "3", "2"]
        assert all(len(line) <= 80 for line in table.output.splitlines())
