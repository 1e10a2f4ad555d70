"""Tests for redial.tools.doctor.run: the whole run through a fake AMI, on FreePBX and on a plain Asterisk.

The run against a real Asterisk is in test_integration_doctor.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

from redial.config import parse_settings
from redial.exceptions import ConfigError
from redial.tools.doctor.dialplan import DialplanLine
from redial.tools.doctor.findings import Finding, Status, render
from redial.tools.doctor.probe import PbxProbe, ProbeError
from redial.tools.doctor.queues import QueueMemberInfo
from redial.tools.doctor.run import diagnose
from tests.test_doctor_ami_user import ALL_ACTIONS
from tests.test_freepbx import plain_etc
from tests.test_pjsipconf import write_freepbx_etc


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
    settings = parse_settings({"ami": {"host": host, "secret": "s3cret-s3cret-s3cret"}}, env={})
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

        settings = parse_settings({"ami": {"secret": "s3cret-s3cret-s3cret"}}, env={})
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


class TestDiagnoseSecurity:
    """What the configuration's secret rules refused, the MD5 login and excess write classes are reported."""

    def test_secret_problems_come_first(self, tmp_path: Path) -> None:
        """Each refused secret rule is a failure, before the login."""
        settings = parse_settings({"ami": {"secret": "s3cret-s3cret-s3cret"}}, env={})
        probe = FakeProbe(FREEPBX_CONTEXTS, FREEPBX_QUEUES)
        problem = ConfigError("ami.secret", "the AMI secret is the placeholder of an example")
        findings = list(
            diagnose(
                settings,
                etc_dir=plain_etc(tmp_path),
                probe_factory=lambda *_: cast(PbxProbe, probe),
                secret_problems=[problem],
            )
        )
        assert (findings[0].check, findings[0].status, findings[0].summary) == ("secret", Status.FAIL, str(problem))
        assert findings[1].check == "AMI" and "with the MD5 challenge" in findings[1].summary

    def test_write_class_beyond_the_needed_ones(self, tmp_path: Path) -> None:
        """A user that may send Command fails the write check."""

        class Powerful(FakeProbe):
            def commands(self) -> frozenset[str]:
                return super().commands() | {"Command"}

        settings = parse_settings({"ami": {"secret": "s3cret-s3cret-s3cret"}}, env={})
        probe = Powerful(FREEPBX_CONTEXTS, FREEPBX_QUEUES)
        findings = list(diagnose(settings, etc_dir=plain_etc(tmp_path), probe_factory=lambda *_: cast(PbxProbe, probe)))
        (write,) = [f for f in findings if f.check == "write"]
        assert write.status is Status.FAIL and "command" in write.summary

    def test_ami_over_http_is_reported(self, tmp_path: Path) -> None:
        """manager.conf's webenabled with http.conf enabled: a warning that its logins are in clear."""
        etc = plain_etc(tmp_path)
        manager = etc / "manager.conf"
        manager.write_text(manager.read_text().replace("[general]", "[general]\nwebenabled = yes", 1))
        (etc / "http.conf").write_text("[general]\nenabled = yes\n")
        findings = run(etc, {"from-queue": FREEPBX_CONTEXTS["from-queue"]})
        (logins,) = [f for f in findings if f.check == "logins"]
        assert logins.status is Status.WARN and "in clear" in logins.summary
