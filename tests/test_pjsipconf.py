"""Tests for redial.tools.pjsipconf."""

from __future__ import annotations

from pathlib import Path

import pytest

from redial.tools.pjsipconf import (
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
        conf = write(
            tmp_path / "pjsip.conf",
            (
                "[trunk-tpl](!)\ntype = endpoint\nrtp_timeout = 30\ncontext = in\n"
                "[carrier](trunk-tpl)\nrtp_timeout => 20\n"
            ),
        )
        (carrier,) = parse_sections(conf)
        assert carrier.name == "carrier"
        assert carrier.values == {"type": "endpoint", "rtp_timeout": "20", "context": "in"}

    def test_comments_and_escaped_semicolon(self, tmp_path: Path) -> None:
        conf = write(
            tmp_path / "pjsip.conf",
            (
                "; a comment\n[a] ; trailing\ntype = endpoint ; why\n"
                ";-- a block\nrtp_timeout = 99\n--;\nfrom_user = x\\;y\n"
            ),
        )
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
        conf = write(
            tmp_path / "pjsip.conf",
            (
                "[trunk]\ntype = endpoint\nrtp_timeout = 30\n[trunk]\ntype = aor\ncontact = sip:x\n"
                "[trunk-id]\ntype = identify\nendpoint = trunk\nmatch = 10.0.0.1\n"
                "[phone]\ntype = endpoint\n"
            ),
        )
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


class TestAdditions:
    """(+) as Asterisk 22 reads it (checked on the sandbox's Asterisk): the first section of that name."""

    def test_plus_goes_to_the_first_section_of_the_name(self, tmp_path: Path) -> None:
        conf = write(
            tmp_path / "pjsip.conf",
            (
                "[carrier]\ntype = endpoint\n[carrier]\ntype = aor\ncontact = sip:x\n"
                "[carrier]\ntype = identify\nendpoint = carrier\n[carrier](+)\nrtp_timeout = 31\n"
            ),
        )
        assert endpoints(conf)["carrier"].rtp_timeout == 31

    def test_plus_with_a_filter_picks_the_matching_section(self, tmp_path: Path) -> None:
        conf = write(
            tmp_path / "pjsip.conf",
            ("[backup]\ntype = aor\n[backup]\ntype = endpoint\n[backup](+type=endpoint)\nrtp_timeout = 32\n"),
        )
        assert endpoints(conf)["backup"].rtp_timeout == 32

    def test_plus_before_its_section_is_an_error_naming_the_place(self, tmp_path: Path) -> None:
        conf = write(tmp_path / "pjsip.conf", "[carrier](+)\nrtp_timeout = 30\n[carrier]\ntype = endpoint\n")
        with pytest.raises(ValueError, match=r"pjsip\.conf:1: \[carrier\]\(\+\) adds to a section not defined"):
            parse_sections(conf)

    def test_origin_is_the_header_line(self, tmp_path: Path) -> None:
        write(tmp_path / "other.conf", "; x\n[b]\nk = v\n")
        conf = write(tmp_path / "main.conf", "[a]\n#include other.conf\n")
        a, b = parse_sections(conf)
        assert a.origin == f"{tmp_path / 'main.conf'}:1"
        assert b.origin == f"{tmp_path / 'other.conf'}:2"


# --- A FreePBX-shaped /etc (also used by test_doctor.py) ---------------------------------

REPO = Path(__file__).resolve().parents[1]

# pjsip.conf as FreePBX's core module writes it (PJSip.class.php genConfig): every object type
# in its own generated file, each followed by the admin's *_custom_post.conf.
FREEPBX_PJSIP = """#include pjsip_custom.conf
#include pjsip.transports.conf
#include pjsip.transports_custom_post.conf
#include pjsip.endpoint.conf
#include pjsip.endpoint_custom_post.conf
#include pjsip.aor.conf
#include pjsip.aor_custom_post.conf
#include pjsip.auth.conf
#include pjsip.auth_custom_post.conf
#include pjsip.registration.conf
#include pjsip.registration_custom_post.conf
#include pjsip.identify.conf
#include pjsip.identify_custom_post.conf

[global]
type=global
user_agent=FPBX-16.0.40(20.5.0)
#include pjsip_custom_post.conf
"""


def write_freepbx_etc(
    root: Path,
    *,
    ami_user_in: str = "manager_custom.conf",
    redial_dialplan_in: str | None = "extensions_custom.conf",
    routed: bool = True,
    rtp_timeout_post: bool = True,
    identify: bool = True,
    marker: str | None = "freepbx.conf",
) -> Path:
    """A FreePBX 16 /etc under ``root`` as its modules generate it; returns the Asterisk directory.

    ``marker`` is FreePBX's own file beside it (/etc/freepbx.conf, or /etc/amportal.conf).
    The shipped config/manager_redial.conf user goes into ``ami_user_in``; the shipped
    config/freepbx/extensions_custom.conf snippet (with its #include extensions_redial.conf)
    into ``redial_dialplan_in``; ``routed`` makes an inbound route's destination the
    Custom Destination redial-freepbx-returning,400,1.
    """
    etc = root / "etc" / "asterisk"
    etc.mkdir(parents=True)
    if marker is not None:
        (root / "etc" / marker).write_text("<?php\n$amp_conf['AMPDBUSER'] = 'freepbxuser';\n", encoding="utf-8")
    manager_user = (REPO / "config" / "manager_redial.conf").read_text(encoding="utf-8")
    files: dict[str, str] = {
        "manager.conf": (
            "[general]\nenabled = yes\nport = 5038\nbindaddr = 0.0.0.0\ndisplayconnects=no\n\n"
            "[admin]\nsecret = amp111\ndeny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.0\n"
            "read = system,call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan\n"
            "write = system,call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan\n\n"
            "#include manager_additional.conf\n#include manager_custom.conf\n"
        ),
        "manager_additional.conf": "",
        "manager_custom.conf": "",
        "extensions.conf": (
            "; FreePBX\n#include extensions_additional.conf\n#include extensions_custom.conf\n\n"
            "[from-trunk]\ninclude => from-pstn\n\n[from-pstn]\ninclude => from-pstn-custom\ninclude => ext-did\n"
        ),
        "extensions_additional.conf": (
            "[from-queue]\nexten => _.,1,Goto(from-internal,${QAGENT},1)\n"
            "[ext-queues]\nexten => 400,1,Set(__NODEST=${EXTEN})\nexten => 400,n,Queue(400,t,,,)\n"
            "[ext-did-0002]\nexten => 5551234,1,Set(__FROM_DID=${EXTEN})\n"
            + (
                "exten => 5551234,n,Goto(redial-freepbx-returning,400,1)\n"
                if routed
                else "exten => 5551234,n,Goto(ext-queues,400,1)\n"
            )
        ),
        "extensions_custom.conf": "",
        "extensions_redial.conf": (REPO / "config" / "extensions_redial.conf").read_text(encoding="utf-8"),
        "pjsip.conf": FREEPBX_PJSIP,
        "pjsip.endpoint.conf": (
            "#include pjsip.endpoint_custom.conf\n\n"
            "[carrier]\ntype=endpoint\ntransport=0.0.0.0-udp\ncontext=from-pstn\ndisallow=all\nallow=ulaw\n"
            "aors=carrier\n\n"
            "[1001]\ntype=endpoint\naors=1001\nauth=1001-auth\ncontext=from-internal\n"
            "[1002]\ntype=endpoint\naors=1002\nauth=1002-auth\ncontext=from-internal\n"
        ),
        "pjsip.aor.conf": "#include pjsip.aor_custom.conf\n\n[carrier]\ntype=aor\ncontact=sip:198.51.100.1\n"
        "[1001]\ntype=aor\nmax_contacts=1\n[1002]\ntype=aor\nmax_contacts=1\n",
        "pjsip.identify.conf": "#include pjsip.identify_custom.conf\n\n"
        + ("[carrier]\ntype=identify\nendpoint=carrier\nmatch=198.51.100.1\n" if identify else ""),
        "pjsip.endpoint_custom_post.conf": "[carrier](+)\nrtp_timeout=30\n" if rtp_timeout_post else "",
    }
    for name in (
        "pjsip_custom.conf",
        "pjsip_custom_post.conf",
        "pjsip.transports.conf",
        "pjsip.auth.conf",
        "pjsip.registration.conf",
        "pjsip.endpoint_custom.conf",
        "pjsip.aor_custom.conf",
        "pjsip.identify_custom.conf",
    ):
        files[name] = ""
    for name in ("transports", "aor", "auth", "registration", "identify"):
        files[f"pjsip.{name}_custom_post.conf"] = ""
    files[ami_user_in] = files.get(ami_user_in, "") + "\n" + manager_user
    if redial_dialplan_in is not None:
        snippet = (REPO / "config" / "freepbx" / "extensions_custom.conf").read_text(encoding="utf-8")
        files[redial_dialplan_in] = files.get(redial_dialplan_in, "") + "\n" + snippet
    for name, text in files.items():
        (etc / name).write_text(text, encoding="utf-8")
    return etc


class TestFreePbxPjsip:
    """FreePBX's generated pjsip.conf: rtp_timeout added in pjsip.endpoint_custom_post.conf is read."""

    def test_custom_post_addition_reaches_the_trunk(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path)
        found = endpoints(etc / "pjsip.conf", etc)
        assert set(found) == {"carrier", "1001", "1002"}
        assert found["carrier"].rtp_timeout == 30 and found["carrier"].identified
        assert found["1001"].rtp_timeout == 0 and not found["1001"].identified

    def test_without_the_addition_the_trunk_has_none(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path, rtp_timeout_post=False)
        assert endpoints(etc / "pjsip.conf", etc)["carrier"].rtp_timeout == 0

    def test_addition_in_endpoint_custom_comes_too_early(self, tmp_path: Path) -> None:
        """pjsip.endpoint_custom.conf is read before FreePBX's endpoints: Asterisk refuses the file."""
        etc = write_freepbx_etc(tmp_path, rtp_timeout_post=False)
        write(etc / "pjsip.endpoint_custom.conf", "[carrier](+)\nrtp_timeout=30\n")
        with pytest.raises(ValueError, match=r"pjsip\.endpoint_custom\.conf:1: \[carrier\]\(\+\)"):
            endpoints(etc / "pjsip.conf", etc)

    def test_manager_user_found_through_manager_custom(self, tmp_path: Path) -> None:
        etc = write_freepbx_etc(tmp_path)
        assert manager_port(etc) == 5038
        user = manager_user(etc, "redial")
        assert user is not None and user.values["read"] == "call,agent"
        assert user.origin.startswith(str(etc / "manager_custom.conf") + ":")
