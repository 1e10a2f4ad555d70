"""Tests for redial.tools.doctor.findings: a finding rendered in 80 columns, and the verdict."""

from __future__ import annotations

from redial.tools.doctor.findings import Finding, Status, render, verdict


class TestRender:
    """Output: 80 columns, colour only when asked."""

    long = Finding("rtp_timeout", Status.FAIL, "word " * 60, "fix " * 40)

    def test_fits_80_columns(self) -> None:
        text = render(self.long, colour=False)
        assert max(len(row) for row in text.splitlines()) <= 80
        assert len(text.splitlines()) > 4

    def test_no_escape_codes_without_colour(self) -> None:
        assert "\x1b[" not in render(self.long, colour=False)
        assert "\x1b[" in render(self.long, colour=True)

    def test_verdict(self) -> None:
        ok = Finding("a", Status.OK, "")
        assert verdict([ok]) == "All checks passed."
        assert verdict([ok, Finding("b", Status.SKIPPED, "")]) == "All checks passed (1 not checked)."
        assert verdict([Finding("c", Status.FAIL, ""), Finding("d", Status.WARN, "")]).startswith(
            "1 problem and 1 warning"
        )
