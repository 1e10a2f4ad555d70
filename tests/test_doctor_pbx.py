"""Tests for redial.tools.doctor.pbx: the Asterisk version, its clock and its modules."""

from __future__ import annotations

import pytest

from redial.tools.doctor.findings import Status
from redial.tools.doctor.pbx import check_clock, check_modules, check_version, has_tech_cause, parse_version


class TestVersion:
    """The Asterisk version and what it implies."""

    @pytest.mark.parametrize(
        ("text", "parsed"),
        [
            ("22.10.1+dfsg+~cs6.17.60671434-1", (22, 10, 1)),
            ("certified/20.7-cert1", (20, 7, 0)),
            ("GIT-master-abc", None),
        ],
    )
    def test_parse(self, text: str, parsed: tuple[int, int, int] | None) -> None:
        assert parse_version(text) == parsed

    @pytest.mark.parametrize(
        ("version", "expected"),
        [
            ((22, 7, 0), True),
            ((22, 6, 9), False),
            ((20, 17, 0), True),
            ((20, 16, 0), False),
            ((21, 9, 0), False),
            ((23, 1, 0), True),
            ((24, 0, 0), True),
        ],
    )
    def test_tech_cause(self, version: tuple[int, int, int], expected: bool) -> None:
        assert has_tech_cause(version) is expected

    def test_old_versions_warn(self) -> None:
        assert check_version("22.5.0").status is Status.WARN
        assert check_version("18.20.0").status is Status.WARN
        assert check_version("22.10.1").status is Status.OK


class TestClock:
    """Asterisk's clock against this host's."""

    def test_agree(self) -> None:
        assert check_clock(1000.4, 1000.0, 1000.8).status is Status.OK

    def test_skew_reports_seconds(self) -> None:
        finding = check_clock(1100.0, 1000.0, 1000.2)
        assert finding.status is Status.WARN and "+99.9 s" in finding.summary and "NTP" in (finding.fix or "")


class TestModules:
    """Modules the shipped dialplan needs."""

    def test_absent_module_named_with_its_use(self) -> None:
        finding = check_modules({"app_stack": False, "app_dial": True}, {"app_stack": "Gosub", "app_dial": "Dial"})
        assert finding.status is Status.FAIL and "app_stack: Gosub" in finding.summary
        assert "app_stack.so" in (finding.fix or "") and "app_dial.so" not in (finding.fix or "")
