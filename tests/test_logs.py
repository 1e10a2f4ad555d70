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
