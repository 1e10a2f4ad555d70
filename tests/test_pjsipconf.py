"""Tests for redial.pjsipconf."""

from __future__ import annotations

from pathlib import Path

import pytest

from redial.pjsipconf import (
    endpoints,
    locate_config_dir,
    manager_port,
    manager_user,
    parse_sections,
    running_config_dirs,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class TestSections:
    """Sections, templates and comments as Asterisk reads them."""

    def test_template_values_inherited_and_overridden(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", (
            "[trunk-tpl](!)\ntype = endpoint\nrtp_timeout = 30\ncontext = in\n"
            "[carrier](trunk-tpl)\nrtp_timeout => 20\n"
        ))
        (carrier,) = parse_sections(conf)
        assert carrier.name == "carrier"
        assert carrier.values == {"type": "endpoint", "rtp_timeout": "20", "context": "in"}

    def test_comments_and_escaped_semicolon(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", (
            "; a comment\n[a] ; trailing\ntype = endpoint ; why\n"
            ";-- a block\nrtp_timeout = 99\n--;\nfrom_user = x\\;y\n"
        ))
        (section,) = parse_sections(conf)
        assert section.values == {"type": "endpoint", "from_user": "x;y"}

    def test_plus_adds_to_the_earlier_section(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", "[a]\ntype = endpoint\n[a](+)\nrtp_timeout = 5\n")
        assert endpoints(conf)["a"].rtp_timeout == 5

    def test_unknown_template_is_an_error_naming_it(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", "[a](nope)\ntype = endpoint\n")
        with pytest.raises(ValueError, match="unknown template 'nope'"):
            parse_sections(conf)


class TestIncludes:
    """#include and #tryinclude, globs, and loops."""

    def test_include_and_glob(self, tmp_path: Path) -> None:
        (tmp_path / "pjsip.d").mkdir()
        write(tmp_path / "pjsip.d" / "a.conf", "[a]\ntype = endpoint\nrtp_timeout = 7\n")
        write(tmp_path / "pjsip.d" / "b.conf", "[b]\ntype = endpoint\n")
        conf = write(tmp_path / "pjsip.conf", '#include "pjsip.d/*.conf"\n#tryinclude missing.conf\n')
        found = endpoints(conf)
        assert {name: e.rtp_timeout for name, e in found.items()} == {"a": 7, "b": 0}

    def test_missing_include_is_an_error(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", "#include gone.conf\n")
        with pytest.raises(ValueError, match=r"gone\.conf: no such file"):
            parse_sections(conf)

    def test_include_loop_ends(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", "#include pjsip.conf\n")
        with pytest.raises(ValueError, match="nested more than"):
            parse_sections(conf)


class TestEndpoints:
    """Only endpoint sections count; identify marks trunks."""

    def test_endpoint_and_aor_share_a_name(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", (
            "[trunk]\ntype = endpoint\nrtp_timeout = 30\n[trunk]\ntype = aor\ncontact = sip:x\n"
            "[trunk-id]\ntype = identify\nendpoint = trunk\nmatch = 10.0.0.1\n"
            "[phone]\ntype = endpoint\n"
        ))
        found = endpoints(conf)
        assert set(found) == {"trunk", "phone"}
        assert found["trunk"].rtp_timeout == 30 and found["trunk"].identified
        assert found["phone"].rtp_timeout == 0 and not found["phone"].identified

    def test_garbage_timeout_counts_as_unset(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", "[t]\ntype = endpoint\nrtp_timeout = soon\n")
        assert endpoints(conf)["t"].rtp_timeout == 0


def fake_process(proc: Path, pid: int, root: Path, argv: list[str], comm: str = "asterisk") -> None:
    """A /proc/PID entry: comm, cmdline and the root link (a chroot here)."""
    entry = proc / str(pid)
    entry.mkdir(parents=True)
    (entry / "comm").write_text(comm + "\n")
    (entry / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    (entry / "root").symlink_to(root)


def chroot_with_asterisk(root: Path, etc: str, port: int | None) -> None:
    conf_dir = root / etc.lstrip("/")
    conf_dir.mkdir(parents=True)
    (conf_dir / "asterisk.conf").write_text(f"[directories]\nastetcdir => {etc}\n")
    general = "[general]\nenabled = yes\n" + (f"port = {port}\n" if port else "")
    (conf_dir / "manager.conf").write_text(general + "[redial]\nread = call,agent\n")


class TestLocate:
    """The running Asterisk's configuration directory, found through /proc."""

    def test_picks_the_asterisk_with_the_ami_port(self, tmp_path: Path) -> None:
        proc = tmp_path / "proc"
        for pid, port in ((100, 15038), (200, 15138)):
            root = tmp_path / f"root{pid}"
            chroot_with_asterisk(root, f"/etc/pbx-{pid}", port)
            fake_process(proc, pid, root, ["asterisk", "-f", "-C", f"/etc/pbx-{pid}/asterisk.conf"])
        fake_process(proc, 300, tmp_path, ["bash"], comm="bash")
        assert len(running_config_dirs(proc)) == 2
        nowhere = tmp_path / "no-etc"
        located = locate_config_dir(15138, proc, fallback=nowhere)
        assert located == (tmp_path / "root200" / "etc" / "pbx-200").resolve()
        assert locate_config_dir(9999, proc, fallback=nowhere) is None

    def test_default_port_and_user_section(self, tmp_path: Path) -> None:
        chroot_with_asterisk(tmp_path, "/etc/asterisk", None)
        etc = tmp_path / "etc" / "asterisk"
        assert manager_port(etc) == 5038
        user = manager_user(etc, "redial")
        assert user is not None and user.values["read"] == "call,agent"
        assert manager_user(etc, "nobody") is None and manager_port(tmp_path / "missing") is None
