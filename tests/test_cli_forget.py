"""Tests for redial.tools.cli_forget: ``redial forget NUMBER``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from redial.store import StoreLock
from redial.tools.cli import main
from tests.test_erase import E164, NATIONAL, OTHER, fill, remaining


def _forget(tmp_path: Path, number: str, extra: str = "") -> tuple[Path, Result]:
    path = tmp_path / "s.sqlite3"
    if not path.exists():
        asyncio.run(fill(path))
    file = tmp_path / "r.yaml"
    file.write_text(f"store:\n  path: {path}\npolicy:\n  numbers:\n    home_region: US\n{extra}")
    return path, CliRunner().invoke(main, ["forget", "--config", str(file), number])


class TestForget:
    """One customer's calls, jobs and job logs go, whatever form the number is given in; others stay."""

    @pytest.mark.parametrize("number", [NATIONAL, E164, "0012025550143", "(202) 555-0143"])
    def test_any_form_erases_every_stored_form_and_says_counts(self, tmp_path: Path, number: str) -> None:
        """National, +E.164 and 00-international find the same three calls, stored in those three forms."""
        path, result = _forget(tmp_path, number)
        assert result.exit_code == 0, result.output
        assert "3 call(s), 1 callback job(s), 2 job log entries removed" in result.output
        assert asyncio.run(remaining(path)) == ({OTHER}, 1, 2)

    def test_outside_line_prefix_is_taken_off(self, tmp_path: Path) -> None:
        """A number as an agent dials it, with the outside-line prefix, names the same customer."""
        path, result = _forget(tmp_path, "912025550143", "    dial_prefixes: [9]\n")
        assert result.exit_code == 0 and "3 call(s)" in result.output
        assert asyncio.run(remaining(path)) == ({OTHER}, 1, 2)

    def test_prefix_is_taken_off_only_a_number_that_needs_it(self) -> None:
        """A valid number that starts with the prefix digit is that number, never another customer's."""
        from redial.config import parse_settings
        from redial.tools.cli_forget import number_forms

        settings = parse_settings({"policy": {"numbers": {"dial_prefixes": [9]}}}, env={})
        assert number_forms("9725550143", settings) == ({"+19725550143"}, "9725550143")
        assert number_forms("9 202 555 0143", settings) == ({"+12025550143"}, "92025550143")

    def test_unknown_number_removes_nothing(self, tmp_path: Path) -> None:
        """A number never stored: nothing removed, and the counts say so."""
        path, result = _forget(tmp_path, "+442079460000")
        assert result.exit_code == 0 and "0 call(s), 0 callback job(s), 0 job log entries" in result.output
        assert asyncio.run(remaining(path))[0] == {NATIONAL, E164, "0012025550143", OTHER}

    def test_not_a_number_is_refused_naming_it(self, tmp_path: Path) -> None:
        """A withheld marker or text is no number: refused (it would match every withheld call)."""
        path, result = _forget(tmp_path, "anonymous")
        assert result.exit_code == 2 and "'anonymous' is not a phone number" in result.output
        assert len(asyncio.run(remaining(path))[0]) == 4

    def test_refused_while_a_daemon_holds_the_store(self, tmp_path: Path) -> None:
        """The daemon may hold an open redial for the number in memory: nothing is written behind it."""
        path = tmp_path / "s.sqlite3"
        asyncio.run(fill(path))
        lock = StoreLock(path)
        lock.acquire()
        try:
            _, result = _forget(tmp_path, E164)
        finally:
            lock.release()
        assert result.exit_code == 1 and "nothing forgotten" in result.output
        assert "another redial daemon" in result.output
        assert len(asyncio.run(remaining(path))[0]) == 4

    def test_refused_while_a_job_holds_an_agent_paused(self, tmp_path: Path) -> None:
        """A row the next start releases an agent from is kept, and the command says which and why."""
        import sqlite3

        path = tmp_path / "s.sqlite3"
        asyncio.run(fill(path))
        with sqlite3.connect(path) as db:
            db.execute("UPDATE redials SET paused_interface = 'PJSIP/agent1' WHERE id = 1")
        _, result = _forget(tmp_path, NATIONAL)
        assert result.exit_code == 1 and "redial 1 (PJSIP/agent1) still holds an agent paused" in result.output
        assert len(asyncio.run(remaining(path))[0]) == 4

    def test_lock_is_released_after_the_erase(self, tmp_path: Path) -> None:
        """A daemon may start right after: forget does not keep the store's lock."""
        path, result = _forget(tmp_path, E164)
        assert result.exit_code == 0
        lock = StoreLock(path)
        lock.acquire()
        lock.release()
