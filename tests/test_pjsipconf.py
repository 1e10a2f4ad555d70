"""Tests for redial.pjsipconf."""

from __future__ import annotations

from pathlib import Path

import pytest

from redial.pjsipconf import endpoints, parse_sections


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
