"""Tests for redial.service.logs."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from redial.config import LogSettings
from redial.service.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    yield
    structlog.reset_defaults()


class TestConfigureLogging:
    """One JSON object a line, with secrets masked and levels filtered."""

    def test_json_line_with_secret_fields_masked(self) -> None:
        """A field named like a secret is masked, whatever its case; the rest stays as logged."""
        out = io.StringIO()
        configure_logging(LogSettings(level="info", format="json"), out)
        structlog.get_logger("redial").info(
            "login", username="redial", ami_secret="s3cret", Password="pw", api_token="t", queue="support"
        )
        line = json.loads(out.getvalue())
        assert line["event"] == "login" and line["level"] == "info"
        assert (line["username"], line["queue"]) == ("redial", "support")
        assert line["ami_secret"] == line["Password"] == line["api_token"] == "********"
        assert "s3cret" not in out.getvalue()

    def test_level_filters(self) -> None:
        """Below the configured level nothing is written."""
        out = io.StringIO()
        configure_logging(LogSettings(level="warning", format="json"), out)
        log = structlog.get_logger("redial")
        log.info("quiet")
        log.warning("loud")
        assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["loud"]


class TestMaskNumbers:
    """``logging.mask_numbers``: customer numbers show only their last four digits, wherever they are."""

    def _line(self, mask: bool, **fields: object) -> dict[str, object]:
        out = io.StringIO()
        configure_logging(LogSettings(level="info", format="json", mask_numbers=mask), out)
        structlog.get_logger("redial").info("decision", **fields)
        line: dict[str, object] = json.loads(out.getvalue())
        return line

    def test_number_fields_keep_their_last_four_digits(self) -> None:
        """customer, caller, dial_number: only the last four digits (and a leading +) are left; an
        extension or a withheld marker is nobody's number and stays."""
        line = self._line(True, customer="+12025550143", caller="2025550143", dial_number="0012025550143")
        assert (line["customer"], line["caller"], line["dial_number"]) == ("+***0143", "***0143", "***0143")
        line = self._line(True, customer="anonymous", agent="PJSIP/1001", number="100")
        assert (line["customer"], line["agent"], line["number"]) == ("anonymous", "PJSIP/1001", "100")

    def test_numbers_inside_text_are_masked_ids_are_not(self) -> None:
        """A detail naming the number and a DAHDI channel are masked; Linkedids, ChannelIds and times stay."""
        line = self._line(
            True,
            detail="customer number '+4915123456789' is not allowed",
            channel="DAHDI/i1/5551234-1",
            linkedid="1700000000.42",
            channel_id="redial-12-1-1700000000.42",
            due_at=1700000000.5,
            redial_id=12,
        )
        assert line["detail"] == "customer number '+***6789' is not allowed"
        assert line["channel"] == "DAHDI/i1/***1234-1"
        assert (line["linkedid"], line["channel_id"]) == ("1700000000.42", "redial-12-1-1700000000.42")
        assert (line["due_at"], line["redial_id"]) == (1700000000.5, 12)

    def test_traceback_text_is_masked(self) -> None:
        """An exception's message naming a number is masked in the rendered traceback too."""
        out = io.StringIO()
        configure_logging(LogSettings(level="info", format="json", mask_numbers=True), out)
        try:
            raise ValueError("cannot dial 2025550143")
        except ValueError:
            structlog.get_logger("redial").exception("event_failed")
        assert "2025550143" not in out.getvalue() and "***0143" in out.getvalue()

    def test_off_by_default(self) -> None:
        """Without the setting the journal keeps whole numbers (history and support need them)."""
        assert LogSettings().mask_numbers is False
        assert self._line(False, customer="+12025550143")["customer"] == "+12025550143"
