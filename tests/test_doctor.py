"""Tests for redial.tools.doctor (the checks; the run against a real Asterisk is in test_integration_doctor.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from redial.config import parse_settings
from redial.tools import freepbx
from redial.tools.doctor import (
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
from redial.tools.freepbx import FreePbx, adapt, detect_dialplan, detect_files, member_endpoints
from redial.tools.pjsipconf import PjsipEndpoint
from tests.test_pjsipconf import REPO, write_freepbx_etc

ALL_ACTIONS = (
    "Originate",
    "QueuePause",
    "QueueLog",
    "CoreShowChannels",
    "ExtensionState",
    "CoreStatus",
    "Status",
    "QueueStatus",
    "Ping",
)


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
            "Response: Success\r\n",
            "EventList: start\r\n",
            "Message: Queue status will follow\r\n",
            "\r\n",
            "Event: QueueParams\r\n",
            "Queue: support\r\n",
            "\r\n",
            "Event: QueueMember\r\n",
            "Queue: support\r\n",
            "PausedReason: \r\n",
            "\r\n",
            "Event: QueueStatusComplete\r\n",
            "EventList: Complete\r\n",
            "\r\n",
        ]
        frames = _reply_frames(raw)
        assert [f.get("Event", f.get("Response")) for f in frames] == [
            "Success",
            "QueueParams",
            "QueueMember",
            "QueueStatusComplete",
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
        from redial.tools.pjsipconf import parse_sections
        from sandbox import SHIPPED_MANAGER

        (user,) = [x for x in parse_sections(SHIPPED_MANAGER) if x.name == "redial"]
        assert check_event_filters("redial", user.values, NEEDED_EVENTS, "x").status is Status.OK


# --- FreePBX -------------------------------------------------------------------------------


def plain_etc(root: Path) -> Path:
    """A hand-written Asterisk /etc: manager.conf, extensions.conf and pjsip.conf, nothing of FreePBX."""
    etc = root / "etc" / "asterisk"
    etc.mkdir(parents=True)
    (etc / "manager.conf").write_text("[general]\nenabled = yes\n[redial]\nread = call,agent\n", encoding="utf-8")
    (etc / "extensions.conf").write_text("[from-queue]\nexten => _X.,1,Dial(PJSIP/${EXTEN})\n", encoding="utf-8")
    (etc / "pjsip.conf").write_text("[carrier]\ntype = endpoint\nrtp_timeout = 30\n", encoding="utf-8")
    return etc


class TestFreePbxDetection:
    """FreePBX is recognised by its files or its dialplan; a plain Asterisk is not."""

    @pytest.mark.parametrize(
        ("marker", "where"),
        [
            ("freepbx.conf", "etc/freepbx.conf"),
            ("amportal.conf", "etc/amportal.conf"),
            (None, "etc/asterisk/extensions_additional.conf"),
        ],
    )
    def test_recognised_by_its_files(self, tmp_path: Path, marker: str | None, where: str) -> None:
        etc = write_freepbx_etc(tmp_path, marker=marker)
        if marker == "amportal.conf":
            (etc / "extensions_additional.conf").unlink()
        site = detect_files(etc)
        assert site is not None and site.etc_dir == etc
        assert freepbx.detected(site) == Finding("freepbx", Status.OK, f"FreePBX detected at {tmp_path / where}")

    def test_plain_asterisk_is_not_freepbx(self, tmp_path: Path) -> None:
        assert detect_files(plain_etc(tmp_path)) is None
        assert detect_files(None) is None

    def test_dialplan_needs_both_of_freepbxs_contexts(self) -> None:
        lab = {"from-queue": [line("Dial")]}
        assert detect_dialplan(lab.get) is None
        site = detect_dialplan({**lab, "ext-queues": [line("Queue")]}.get)
        assert site is not None and site.etc_dir is None and "[ext-queues]" in site.evidence

    def test_local_members_name_their_extension(self) -> None:
        interfaces = ["Local/1001@from-queue/n", "Local/1002@from-queue", "Local/7@agents/n", "PJSIP/agent1"]
        assert member_endpoints(interfaces) == frozenset({"1001", "1002"})


class TestFreePbxAmiUser:
    """The daemon's AMI user belongs in manager_custom.conf (or FreePBX's GUI), never in manager.conf."""

    def test_in_manager_custom(self, tmp_path: Path) -> None:
        finding = freepbx.check_ami_user(write_freepbx_etc(tmp_path), "redial")
        assert finding.status is Status.OK and "manager_custom.conf" in finding.summary

    def test_in_manager_conf_warns_with_the_move(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, ami_user_in="manager.conf")
        finding = freepbx.check_ami_user(etc, "redial")
        assert finding.status is Status.WARN and f"{etc / 'manager.conf'}:" in finding.summary
        assert finding.fix is not None
        assert f"into {etc / 'manager_custom.conf'}" in finding.fix and "fwconsole reload" in finding.fix

    def test_from_the_gui(self, tmp_path: Path) -> None:
        finding = freepbx.check_ami_user(write_freepbx_etc(tmp_path, ami_user_in="manager_additional.conf"), "redial")
        assert finding.status is Status.OK and "Asterisk Manager Users" in finding.summary

    def test_in_both_files_warns(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, ami_user_in="manager.conf")
        shipped = (REPO / "config" / "manager_redial.conf").read_text(encoding="utf-8")
        (etc / "manager_custom.conf").write_text(shipped, encoding="utf-8")
        finding = freepbx.check_ami_user(etc, "redial")
        assert finding.status is Status.WARN and "reads both" in finding.summary

    def test_custom_file_not_included(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path)
        manager = etc / "manager.conf"
        manager.write_text(manager.read_text().replace("#include manager_custom.conf\n", ""), encoding="utf-8")
        finding = freepbx.check_ami_user(etc, "redial")
        assert finding.status is Status.WARN and "does not include" in finding.summary
        assert "#include manager_custom.conf" in (finding.fix or "")

    def test_nowhere(self, tmp_path: Path) -> None:
        finding = freepbx.check_ami_user(write_freepbx_etc(tmp_path), "someone-else")
        assert finding.status is Status.WARN and "manager_custom.conf" in (finding.fix or "")


class TestFreePbxDialplan:
    """The redial dialplan comes in through extensions_custom.conf; a FreePBX destination leads to the hook."""

    def test_shipped_snippet_in_extensions_custom(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path)
        dialplan, returning = freepbx.check_dialplan_files(etc, "redial-out", returning=True)
        assert dialplan.status is Status.OK and "extensions_custom.conf" in dialplan.summary
        assert returning.status is Status.OK and "[redial-freepbx-returning]" in returning.summary

    def test_shipped_snippet_is_the_custom_destination(self) -> None:
        from redial.tools.pjsipconf import config_lines

        snippet = REPO / "config" / "freepbx" / "extensions_custom.conf"
        lines = [text for text, _ in config_lines(snippet, REPO / "config")]
        start = lines.index("[redial-freepbx-returning]")
        assert lines[start + 1 :] == [
            "exten => _X.,1,Gosub(redial-returning,s,1)",
            "same => n,Goto(ext-queues,${EXTEN},1)",
        ]
        assert "#include extensions_redial.conf" not in lines  # expanded: the file exists beside it

    def test_included_from_extensions_conf_warns(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, redial_dialplan_in="extensions.conf")
        dialplan, _ = freepbx.check_dialplan_files(etc, "redial-out", returning=True)
        assert dialplan.status is Status.WARN and f"{etc / 'extensions_redial.conf'}:" in dialplan.summary
        assert dialplan.fix is not None and str(etc / "extensions_custom.conf") in dialplan.fix

    def test_missing_fails_with_the_freepbx_install(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, redial_dialplan_in=None)
        dialplan, returning = freepbx.check_dialplan_files(etc, "redial-out", returning=True)
        assert dialplan.status is Status.WARN and "[redial-out] is in no dialplan file" in dialplan.summary
        assert dialplan.fix is not None
        assert "#include extensions_redial.conf to" in dialplan.fix and "extensions_custom.conf" in dialplan.fix
        assert "fwconsole reload" in dialplan.fix
        assert returning.status is Status.WARN and "Custom Destinations" in (returning.fix or "")

    def test_include_without_the_file_fails(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path)
        (etc / "extensions_redial.conf").unlink()
        (finding,) = freepbx.check_dialplan_files(etc, "redial-out", returning=True)
        assert finding.status is Status.FAIL and "extensions_redial.conf: no such file" in finding.summary

    def test_hook_no_route_leads_to(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, routed=False)
        _, returning = freepbx.check_dialplan_files(etc, "redial-out", returning=True)
        assert returning.status is Status.WARN and "no FreePBX destination leads to it" in returning.summary
        assert "redial-freepbx-returning,<queue number>,1" in (returning.fix or "")

    def test_hook_in_an_included_custom_context_counts(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, routed=False)
        custom = etc / "extensions_custom.conf"
        custom.write_text(
            custom.read_text() + "[from-pstn-custom]\nexten => _X.,1,Gosub(redial-returning,s,1)\n", encoding="utf-8"
        )
        _, returning = freepbx.check_dialplan_files(etc, "redial-out", returning=True)
        assert returning.status is Status.OK and "[from-pstn-custom]" in returning.summary

    def test_returning_not_checked_when_fastagi_is_off(self, tmp_path: Path) -> None:
        assert len(freepbx.check_dialplan_files(write_freepbx_etc(tmp_path), "redial-out", returning=False)) == 1


SITE = FreePbx("at /etc/freepbx.conf", Path("/etc/asterisk"))
PLAIN_WORDING = (
    'asterisk -rx "manager reload"',
    'asterisk -rx "dialplan reload"',
    'asterisk -rx "pjsip reload"',
    "in manager.conf",
    "to extensions.conf",
    "in pjsip.conf",
    "in queues.conf",
)


class TestFreePbxFixes:
    """On FreePBX every fix names FreePBX's files, its GUI and fwconsole reload."""

    def fixed(self, finding: Finding) -> str:
        fix = adapt(finding, SITE).fix
        assert fix is not None
        for plain in PLAIN_WORDING:
            assert plain not in fix, (plain, fix)
        return fix

    def test_manager_fixes(self) -> None:
        fix = self.fixed(check_permissions("redial", ["Ping"]))
        assert fix.startswith("in /etc/asterisk/manager_custom.conf give [redial] write = ") and "missing: " in fix
        assert fix.endswith("fwconsole reload")
        assert "manager_custom.conf" in self.fixed(check_read_classes("redial", ["call"]))
        filters = self.fixed(check_event_filters("redial", {}, NEEDED, "x"))
        assert "to [redial] in /etc/asterisk/manager_custom.conf, then fwconsole reload" in filters

    def test_dialplan_fixes(self) -> None:
        fix = self.fixed(check_dialplan("redial-out", None))
        assert "#include extensions_redial.conf to /etc/asterisk/extensions_custom.conf" in fix
        assert "fwconsole reload" in self.fixed(check_greeting(None))
        returning = self.fixed(check_returning(None, "127.0.0.1", 4573))
        assert "redial-freepbx-returning,<queue number>,1" in returning and "Custom Destinations" in returning

    def test_rtp_timeout_goes_to_endpoint_custom_post(self) -> None:
        endpoints = {n: PjsipEndpoint(n, 0, True) for n in ("carrier", "backup")}
        fix = self.fixed(check_rtp_timeouts(None, endpoints, frozenset(), "x"))
        assert "in /etc/asterisk/pjsip.endpoint_custom_post.conf" in fix
        assert "add [backup](+) and [carrier](+), each followed by the line rtp_timeout = 30" in fix
        assert fix.rstrip().endswith("fwconsole reload")
        slow = self.fixed(check_rtp_timeouts(None, {"t": PjsipEndpoint("t", 300, True)}, frozenset(), "x"))
        assert "pjsip.endpoint_custom_post.conf" in slow and "fwconsole reload" in slow

    def test_queue_fixes_name_the_gui(self) -> None:
        (missing,) = check_queues(["400"], {"401": []})
        assert "create queue 400 in Applications > Queues" in self.fixed(missing)
        (empty,) = check_queues(["400"], {"400": []})
        assert "add agents to queue 400 in Applications > Queues" in self.fixed(empty)
        (none,) = check_queues(None, {})
        assert "Applications > Queues" in self.fixed(none)

    def test_findings_without_fix_unchanged(self) -> None:
        ok = check_clock(1000.4, 1000.0, 1000.8)
        assert adapt(ok, SITE) is ok


class FakeProbe:
    """Stands in for PbxProbe: answers as a FreePBX's Asterisk would, without a network."""

    banner = "Asterisk Call Manager/11.0.0"

    def __init__(self, contexts: dict[str, list[DialplanLine]], queues: dict[str, list[QueueMemberInfo]]) -> None:
        self.contexts = contexts
        self.members = queues

    def login(self, username: str, secret: str) -> None:
        pass

    def commands(self) -> frozenset[str]:
        return frozenset((*ALL_ACTIONS, "ShowDialPlan", "CoreSettings"))

    def version(self) -> str:
        return "22.10.1"

    def ping_clock(self) -> tuple[float, float, float]:
        now = time.time()
        return now, now, now

    def dialplan(self, context: str) -> list[DialplanLine] | None:
        return self.contexts.get(context)

    def queues(self) -> dict[str, list[QueueMemberInfo]]:
        return self.members

    def close(self) -> None:
        pass


FREEPBX_CONTEXTS = {
    "from-queue": [DialplanLine("from-queue", "_.", "1", "Goto", "from-internal,${QAGENT},1")],
    "ext-queues": [DialplanLine("ext-queues", "400", "1", "Queue", "400,t")],
    "redial-returning": [DialplanLine("redial-returning", "s", "2", "AGI", "agi://127.0.0.1:4573/returning")],
}
FREEPBX_QUEUES = {"400": [QueueMemberInfo("400", "Alice", "Local/1001@from-queue/n", 1)]}


def run(etc: Path | None, contexts: dict[str, list[DialplanLine]], host: str = "127.0.0.1") -> list[Finding]:
    settings = parse_settings({"ami": {"host": host, "secret": "s"}}, env={})
    probe = FakeProbe(contexts, FREEPBX_QUEUES)
    return list(diagnose(settings, etc_dir=etc, probe_factory=lambda *_: cast(PbxProbe, probe)))


class TestDiagnoseFreePbx:
    """The whole run on a FreePBX-shaped /etc, through a fake AMI: said once, checked, fixes the FreePBX way."""

    def test_freepbx_run(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path)
        findings = run(etc, FREEPBX_CONTEXTS)  # no [redial-out] loaded yet
        assert [f.check for f in findings[:2]] == ["AMI", "freepbx"]
        assert findings[1].summary == f"FreePBX detected at {tmp_path / 'etc' / 'freepbx.conf'}"
        (dialplan,) = [f for f in findings if f.check == "dialplan"]
        assert dialplan.status is Status.FAIL and "extensions_custom.conf" in (dialplan.fix or "")
        (rtp,) = [f for f in findings if f.check == "rtp_timeout"]
        assert rtp.status is Status.OK and "carrier" in rtp.summary and "30 s" in rtp.summary
        own = [f for f in findings if f.check == "freepbx"]
        assert [f.status for f in own] == [Status.OK, Status.OK, Status.OK, Status.OK]
        assert all(max(map(len, render(f, colour=False).splitlines())) <= 80 for f in findings)

    def test_trunk_without_rtp_timeout_gets_the_custom_post_fix(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, rtp_timeout_post=False, identify=False)
        (rtp,) = [f for f in run(etc, FREEPBX_CONTEXTS) if f.check == "rtp_timeout"]
        # Without identify sections every endpoint outside the queues counts: 1001 is the Local
        # member's phone (Local/1001@from-queue/n), 1002 a phone in no queue.
        assert rtp.status is Status.FAIL and "on 1002, carrier (" in rtp.summary and "1001" not in rtp.summary
        assert "[1002](+) and [carrier](+)" in (rtp.fix or "") and "pjsip.endpoint_custom_post.conf" in (rtp.fix or "")

    def test_ami_user_in_manager_conf_is_reported(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, ami_user_in="manager.conf")
        warned = [f for f in run(etc, FREEPBX_CONTEXTS) if f.check == "freepbx" and f.status is Status.WARN]
        assert len(warned) == 1 and "manager.conf" in warned[0].summary

    def test_recognised_over_ami_when_files_cannot_be_read(self) -> None:
        findings = run(None, FREEPBX_CONTEXTS, host="pbx.example")
        assert [f.check for f in findings[:2]] == ["AMI", "freepbx"]
        assert "[ext-queues]" in findings[1].summary
        (dialplan,) = [f for f in findings if f.check == "dialplan"]
        assert "extensions_custom.conf" in (dialplan.fix or "")

    def test_refused_login_names_manager_custom(self, tmp_path: Path) -> None:
        class Refusing(FakeProbe):
            def login(self, username: str, secret: str) -> None:
                raise ProbeError(
                    "Asterisk refused the login",
                    f'check that manager.conf has a [{username}] section; then run asterisk -rx "manager reload"',
                )

        settings = parse_settings({"ami": {"secret": "s"}}, env={})
        probe = Refusing(FREEPBX_CONTEXTS, FREEPBX_QUEUES)
        etc = write_freepbx_etc(tmp_path)
        findings = list(diagnose(settings, etc_dir=etc, probe_factory=lambda *_: cast(PbxProbe, probe)))
        assert [(f.check, f.status) for f in findings] == [("AMI", Status.FAIL), ("freepbx", Status.OK)]
        assert findings[0].fix == (
            f"check that {etc / 'manager_custom.conf'} has a [redial] section; then run fwconsole reload"
        )

    def test_plain_asterisk_run(self, tmp_path: Path) -> None:
        findings = run(plain_etc(tmp_path), {"from-queue": FREEPBX_CONTEXTS["from-queue"]})
        assert "freepbx" not in {f.check for f in findings}
        (dialplan,) = [f for f in findings if f.check == "dialplan"]
        assert "to extensions.conf" in (dialplan.fix or "") and "fwconsole" not in (dialplan.fix or "")
