"""``redial doctor`` run as an admin would, against real sandbox Asterisks: one set up as shipped, one broken.

The broken one has no rtp_timeout on its trunk and no redial dialplan (its
extensions_redial.conf is empty): the doctor must name both, with their fixes, both
when it may ask Asterisk over AMI (an admin user with the system class) and when it
must read pjsip.conf itself.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import SHIPPED_MANAGER, Sandbox
from sandbox.daemon import daemon_config

# Fixed ports on a real Asterisk: never in the fast unit run (`-m "not integration"`).
pytestmark = pytest.mark.integration

DOCTOR_USER = "redial-doctor"
DOCTOR_SECRET = "doctor-" + secrets.token_hex(8)


def manager_with_doctor_user(tmp: Path, eventfilters: bool = True) -> Path:
    """The shipped manager_redial.conf with its optional [redial-doctor] example uncommented."""
    text = SHIPPED_MANAGER.read_text(encoding="utf-8")
    if not eventfilters:
        text = "\n".join(row for row in text.splitlines() if not row.startswith("eventfilter"))
    start = text.index(";[redial-doctor]")
    example = "\n".join(row[1:] for row in text[start:].splitlines() if row.startswith(";"))
    example = re.sub(r"(?m)^secret = .*$", f"secret = {DOCTOR_SECRET}", example)
    path = tmp / "manager_redial.conf"
    path.write_text(text[:start] + example + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tmp = tmp_path_factory.mktemp("doctor-shipped")
    with Sandbox(
        ami_port=15138, sip_port=15160, rtp_ports=(21000, 21499), manager_conf=manager_with_doctor_user(tmp)
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tmp = tmp_path_factory.mktemp("doctor-broken")
    empty = tmp / "extensions_redial.conf"
    empty.write_text("; the admin forgot the redial dialplan\n", encoding="utf-8")
    with Sandbox(
        ami_port=15238,
        sip_port=15260,
        rtp_ports=(21500, 21999),
        rtp_timeout=None,
        extensions_conf=empty,
        manager_conf=manager_with_doctor_user(tmp, eventfilters=False),
    ) as sandbox:
        yield sandbox


def doctor(sandbox: Sandbox, workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``redial doctor`` as an admin runs it; Asterisk's configuration directory is found by the doctor itself."""
    config = daemon_config(sandbox, workdir)
    full_env = {key: value for key, value in os.environ.items() if key != "REDIAL_ASTERISK_ETC"}
    full_env.update(NO_COLOR="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "redial.tools.cli", "doctor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def statuses(output: str) -> dict[str, set[str]]:
    """check name → the statuses it got (a check can report more than once: one line per queue)."""
    found: dict[str, set[str]] = {}
    for row in output.splitlines():
        match = re.match(r"^ (ok|warn|FAIL|skip)\s+(\S+)\s", row)
        if match:
            found.setdefault(match.group(2), set()).add(match.group(1))
    return found


class TestShippedSetup:
    """A PBX set up from config/ as the README says is green."""

    def test_green_with_daemon_user_only(self, shipped: Sandbox, tmp_path: Path) -> None:
        result = doctor(shipped, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        found = statuses(result.stdout)
        for check in (
            "AMI",
            "permissions",
            "asterisk",
            "clock",
            "dialplan",
            "returning",
            "queue_callback",
            "queues",
            "rtp_timeout",
            "events",
            "eventfilter",
            "write",
            "logins",
        ):
            assert found.get(check) == {"ok"}, (check, result.stdout)
        # rtp_timeout came from pjsip.conf (the user has no system class), of this sandbox's Asterisk,
        # found through /proc among the others running (the suite's shared sandbox, the broken one).
        unwrapped = "".join(result.stdout.split())
        assert f"readfrom{shipped.conf_dir}/pjsip.conf" in unwrapped, result.stdout
        assert f"readfrom{shipped.conf_dir}/manager.conf" in unwrapped, result.stdout
        assert "withtheMD5challenge" in unwrapped, result.stdout
        assert "All checks passed" in result.stdout and "\x1b[" not in result.stdout
        assert max(len(row) for row in result.stdout.splitlines()) <= 80

    def test_green_with_doctor_user(self, shipped: Sandbox, tmp_path: Path) -> None:
        result = doctor(
            shipped,
            tmp_path,
            "--admin-user",
            DOCTOR_USER,
            REDIAL_DOCTOR_SECRET=DOCTOR_SECRET,
            REDIAL_ASTERISK_ETC="/nonexistent",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        found = statuses(result.stdout)
        assert found.get("rtp_timeout") == {"ok"} and "asked over AMI" in result.stdout
        assert found.get("modules") == {"ok"} and found.get("events") == {"ok"}

    def test_wrong_secret_is_named(self, shipped: Sandbox, tmp_path: Path) -> None:
        result = doctor(shipped, tmp_path, REDIAL_AMI_SECRET="not-the-secret-at-all")
        assert result.returncode == 1
        assert "refused the login of AMI user 'redial'" in result.stdout
        assert "fix:" in result.stdout and "manager reload" in result.stdout

    def test_json_output(self, shipped: Sandbox, tmp_path: Path) -> None:
        import json

        result = doctor(shipped, tmp_path, "--json")
        rows = [json.loads(row) for row in result.stdout.splitlines()]
        assert {row["check"] for row in rows} >= {"AMI", "dialplan", "rtp_timeout"}
        assert all(row["status"] in ("ok", "skipped") for row in rows), rows


class TestBrokenSetup:
    """No rtp_timeout on the trunk and no redial context: both reported, each with its fix."""

    def check_both_reported(self, result: subprocess.CompletedProcess[str]) -> None:
        assert result.returncode == 1, result.stdout + result.stderr
        found = statuses(result.stdout)
        assert found.get("dialplan") == {"FAIL"} and found.get("rtp_timeout") == {"FAIL"}, result.stdout
        text = " ".join(result.stdout.split())  # undo the wrapping
        assert "context [redial-out] does not exist" in text
        assert "#include extensions_redial.conf" in text and "dialplan reload" in text
        assert "no rtp_timeout on trunk" in text and "add rtp_timeout = 30 to the endpoint section [trunk]" in text
        assert found.get("AMI") == {"ok"} and found.get("queues") == {"ok"}
        assert "2 problems" in text

    def test_reported_from_pjsip_conf(self, broken: Sandbox, tmp_path: Path) -> None:
        result = doctor(broken, tmp_path)
        self.check_both_reported(result)
        assert "read from" in result.stdout
        # Its [redial] user also lacks the shipped eventfilter lines: a warning with the fix.
        assert statuses(result.stdout).get("eventfilter") == {"warn"}
        assert "copy the eventfilter lines" in " ".join(result.stdout.split())

    def test_reported_over_ami(self, broken: Sandbox, tmp_path: Path) -> None:
        result = doctor(
            broken,
            tmp_path,
            "--admin-user",
            DOCTOR_USER,
            REDIAL_DOCTOR_SECRET=DOCTOR_SECRET,
            REDIAL_ASTERISK_ETC="/nonexistent",
        )
        self.check_both_reported(result)
        assert "asked over AMI" in result.stdout
