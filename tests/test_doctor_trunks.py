"""Tests for redial.tools.doctor.trunks: trunk endpoints need rtp_timeout."""

from __future__ import annotations

from redial.config import parse_settings
from redial.tools.doctor.findings import Status
from redial.tools.doctor.trunks import check_rtp_timeouts, trunk_names
from redial.tools.pjsipconf import PjsipEndpoint


class TestRtpTimeout:
    """Trunk endpoints need rtp_timeout."""

    endpoints = {
        "carrier": PjsipEndpoint("carrier", 0, identified=True),
        "backup": PjsipEndpoint("backup", 30, identified=True),
        "agent1": PjsipEndpoint("agent1", 0, identified=False),
        "reception": PjsipEndpoint("reception", 0, identified=False),
    }

    def test_identified_trunks_checked_not_phones(self) -> None:
        finding = check_rtp_timeouts(None, self.endpoints, frozenset({"agent1"}), "asked over AMI")
        assert finding.status is Status.FAIL
        assert "carrier" in finding.summary and "reception" not in finding.summary
        assert finding.fix is not None and "rtp_timeout = 30" in finding.fix and "[carrier]" in finding.fix

    def test_configured_trunks_only(self) -> None:
        finding = check_rtp_timeouts(frozenset({"backup"}), self.endpoints, frozenset(), "x")
        assert finding.status is Status.OK and "backup" in finding.summary and "30 s" in finding.summary

    def test_configured_trunk_that_does_not_exist(self) -> None:
        finding = check_rtp_timeouts(frozenset({"nope"}), self.endpoints, frozenset(), "x")
        assert finding.status is Status.FAIL and "nope does not exist" in finding.summary

    def test_without_identify_every_non_member_counts(self) -> None:
        plain = {n: PjsipEndpoint(n, e.rtp_timeout, False) for n, e in self.endpoints.items()}
        finding = check_rtp_timeouts(None, plain, frozenset({"agent1"}), "x")
        assert finding.status is Status.FAIL and "reception" in finding.summary and "agent1" not in finding.summary
        assert "policy.trunks" in (finding.fix or "")

    def test_slow_timeout_warns(self) -> None:
        slow = {"t": PjsipEndpoint("t", 300, True)}
        assert check_rtp_timeouts(None, slow, frozenset(), "x").status is Status.WARN

    def test_trunk_names_from_settings(self) -> None:
        assert trunk_names(parse_settings({}, env={})) is None
        settings = parse_settings({"policy": {"trunks": ["carrier"]}, "originate": {"trunk": "out"}}, env={})
        assert trunk_names(settings) == frozenset({"carrier", "out"})
