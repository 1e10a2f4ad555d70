"""Tests for redial.doctor (the checks; the run against a real Asterisk is in test_integration_doctor.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from redial.config import parse_settings
from redial.doctor import (
    Admin,
    DialplanLine,
    Finding,
    PbxProbe,
    ProbeError,
    QueueMemberInfo,
    Status,
    _reply_frames,
    check_clock,
    check_dialplan,
    check_event_filters,
    check_greeting,
    check_modules,
    check_permissions,
    check_queues,
    check_read_classes,
    check_returning,
    check_rtp_timeouts,
    check_version,
    diagnose,
    has_tech_cause,
    parse_version,
    render,
    trunk_names,
    uses_greeting,
    verdict,
)
from redial.pjsipconf import PjsipEndpoint

ALL_ACTIONS = ("Originate", "QueuePause", "QueueLog", "CoreShowChannels", "Status", "QueueStatus", "Ping")


def line(app: str, data: str = "", exten: str = "s") -> DialplanLine:
    return DialplanLine("redial-out", exten, "1", app, data)


class TestPermissions:
    """ListCommands must hold every action the daemon sends."""

    def test_all_present(self) -> None:
        assert check_permissions("redial", (*ALL_ACTIONS, "Extra")).status is Status.OK

    def test_missing_originate_names_class_and_fix(self) -> None:
        finding = check_permissions("redial", [a for a in ALL_ACTIONS if a != "Originate"])
        assert finding.status is Status.FAIL
        assert "Originate" in finding.summary
        assert finding.fix is not None and "missing: originate" in finding.fix and "manager reload" in finding.fix

    def test_read_classes(self) -> None:
        assert check_read_classes("redial", ["call", "agent"]).status is Status.OK
        assert check_read_classes("redial", ["all"]).status is Status.OK
        missing = check_read_classes("redial", ["call"])
        assert missing.status is Status.FAIL and "agent" in missing.summary


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
        [((22, 7, 0), True), ((22, 6, 9), False), ((20, 17, 0), True), ((20, 16, 0), False),
         ((21, 9, 0), False), ((23, 1, 0), True), ((24, 0, 0), True)],
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


class TestDialplan:
    """The redial context, greeting and returning-caller hook."""

    def test_missing_context_fails_with_install_fix(self) -> None:
        finding = check_dialplan("redial-out", None)
        assert finding.status is Status.FAIL and "[redial-out] does not exist" in finding.summary
        assert finding.fix is not None and "#include extensions_redial.conf" in finding.fix

    def test_context_without_s(self) -> None:
        assert check_dialplan("redial-out", [line("NoOp", exten="100")]).status is Status.FAIL

    def test_context_ok(self) -> None:
        finding = check_dialplan("redial-out", [line("NoOp"), line("Dial", "PJSIP/x,30,U(redial-greeting)")])
        assert finding.status is Status.OK and "greeting" in finding.summary

    def test_greeting_context_needed_only_when_used(self) -> None:
        assert uses_greeting([line("Dial", "PJSIP/x,30,U(redial-greeting)")])
        assert not uses_greeting([line("Dial", "PJSIP/x,30"), line("Playback", "U(redial-greeting)")])
        missing = check_greeting(None)
        assert missing.status is Status.FAIL and "[redial-greeting]" in (missing.fix or "")
        assert check_greeting([line("Return")]).status is Status.OK

    def test_returning_agi_address_must_match(self) -> None:
        hook = [DialplanLine("redial-returning", "s", "2", "AGI", "agi://127.0.0.1:4573/returning")]
        assert check_returning(hook, "127.0.0.1", 4573).status is Status.OK
        wrong = check_returning(hook, "127.0.0.1", 4574)
        assert wrong.status is Status.FAIL and "agi://127.0.0.1:4574/" in wrong.summary
        assert check_returning(None, "127.0.0.1", 4573).status is Status.WARN


class TestQueues:
    """Configured queues exist and have members Asterisk knows."""

    members = {"support": [QueueMemberInfo("support", "Alice", "PJSIP/agent1", 1)], "empty": []}

    def test_named_queue_missing(self) -> None:
        (finding,) = check_queues(["sales"], self.members)
        assert finding.status is Status.FAIL and "sales" in finding.summary and "support" in finding.summary

    def test_every_queue_when_scope_is_star(self) -> None:
        findings = check_queues(None, self.members)
        assert [(f.status, f.summary) for f in findings] == [
            (Status.WARN, "queue empty has no members: there is no agent to redial through"),
            (Status.OK, "queue support: 1 member"),
        ]

    def test_invalid_member(self) -> None:
        (finding,) = check_queues(["q"], {"q": [QueueMemberInfo("q", "Bob", "PJSIP/nobody", 4)]})
        assert finding.status is Status.WARN and "PJSIP/nobody (invalid)" in finding.summary

    def test_no_queues_at_all(self) -> None:
        (finding,) = check_queues(None, {})
        assert finding.status is Status.FAIL


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


class TestModules:
    """Modules the shipped dialplan needs."""

    def test_absent_module_named_with_its_use(self) -> None:
        finding = check_modules({"app_stack": False, "app_dial": True}, {"app_stack": "Gosub", "app_dial": "Dial"})
        assert finding.status is Status.FAIL and "app_stack: Gosub" in finding.summary
        assert "app_stack.so" in (finding.fix or "") and "app_dial.so" not in (finding.fix or "")


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


class TestBlocks:
    """pyst2's glued replies split back into frames."""

    def test_glued_queue_status(self) -> None:
        raw = [
            "Response: Success\r\n", "EventList: start\r\n", "Message: Queue status will follow\r\n", "\r\n",
            "Event: QueueParams\r\n", "Queue: support\r\n", "\r\n",
            "Event: QueueMember\r\n", "Queue: support\r\n", "PausedReason: \r\n", "\r\n",
            "Event: QueueStatusComplete\r\n", "EventList: Complete\r\n", "\r\n",
        ]
        frames = _reply_frames(raw)
        assert [f.get("Event", f.get("Response")) for f in frames] == [
            "Success", "QueueParams", "QueueMember", "QueueStatusComplete"
        ]
        assert frames[2]["PausedReason"] == ""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback listener that accepts and never speaks (a real Asterisk cannot be made to do that)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


class TestProbeFailures:
    """Unreachable or wrong peers give one clear failure, never a hang."""

    def test_silent_peer_times_out(self, silent_port: int) -> None:
        probe = PbxProbe("127.0.0.1", silent_port, timeout=0.5)
        began = time.monotonic()
        with pytest.raises(ProbeError, match="sent nothing"):
            probe.login("redial", "x")
        assert time.monotonic() - began < 3

    def test_closed_port(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = parse_settings({"ami": {"port": port, "secret": "s"}}, env={})
        findings = list(diagnose(settings, admin=Admin("x", "y"), timeout=1))
        assert [(f.check, f.status) for f in findings] == [("AMI", Status.FAIL)]
        assert f"127.0.0.1:{port}" in findings[0].summary and "enabled = yes" in (findings[0].fix or "")


NEEDED = frozenset({"Hangup", "Newchannel"})


class TestEventFilters:
    """The [redial] user's eventfilter lines pass what the daemon reads."""

    def test_whitelist_covering_the_needed_events(self) -> None:
        values = {"read": "call,agent", "eventfilter(name(Hangup))": "", "eventfilter(name(Newchannel))": ""}
        assert check_event_filters("redial", values, NEEDED, "x").status is Status.OK

    def test_whitelist_missing_one_fails_naming_it(self) -> None:
        finding = check_event_filters("redial", {"eventfilter(name(Newchannel))": ""}, NEEDED, "x")
        assert finding.status is Status.FAIL and "Hangup" in finding.summary and "manager reload" in (finding.fix or "")

    def test_excluding_a_needed_event_fails(self) -> None:
        values = {"eventfilter(action(exclude),name(Hangup))": ""}
        finding = check_event_filters("redial", values, NEEDED, "x")
        assert finding.status is Status.FAIL and "Hangup" in finding.summary

    def test_no_filters_warn(self) -> None:
        finding = check_event_filters("redial", {"read": "call"}, NEEDED, "x")
        assert finding.status is Status.WARN and "config/manager_redial.conf" in (finding.fix or "")

    def test_legacy_filters_not_judged(self) -> None:
        finding = check_event_filters("redial", {"eventfilter": "Event: Hangup"}, NEEDED, "x")
        assert finding.status is Status.OK and "not evaluated" in finding.summary

    def test_shipped_user_passes(self) -> None:
        from redial.ami.events import NEEDED_EVENTS
        from redial.pjsipconf import parse_sections
        from tests.sandbox.asterisk import SHIPPED_MANAGER

        (user,) = [x for x in parse_sections(SHIPPED_MANAGER) if x.name == "redial"]
        assert check_event_filters("redial", user.values, NEEDED_EVENTS, "x").status is Status.OK
