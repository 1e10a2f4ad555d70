"""Tests for redial.tools.freepbx: FreePBX recognised, redial's place in its files checked, fixes worded its way."""

from __future__ import annotations

from pathlib import Path

import pytest

from redial.tools import freepbx
from redial.tools.doctor.ami_user import check_event_filters, check_permissions, check_read_classes
from redial.tools.doctor.dialplan import check_dialplan, check_greeting, check_returning
from redial.tools.doctor.findings import Finding, Status
from redial.tools.doctor.pbx import check_clock
from redial.tools.doctor.queues import check_queues
from redial.tools.doctor.trunks import check_rtp_timeouts
from redial.tools.freepbx import FreePbx, adapt, detect_dialplan, detect_files, member_endpoints
from redial.tools.pjsipconf import PjsipEndpoint
from tests.test_doctor_ami_user import NEEDED
from tests.test_doctor_dialplan import line
from tests.test_pjsipconf import REPO, write_freepbx_etc


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
