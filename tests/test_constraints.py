"""Tests for constraints.txt: the production install, every package pinned and hashed."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
ENTRY = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)((?:\s*\\?\s*--hash=sha256:[0-9a-f]{64})+)\s*$")


def pinned() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from the file's entries (continued lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "constraints.txt").read_text())
    found: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = ENTRY.match(line)
        assert match is not None, f"not a pinned, hashed entry: {line!r}"
        found[canonicalize_name(match.group(1))] = (match.group(2), re.findall(r"[0-9a-f]{64}", match.group(3)))
    return found


def install_requires() -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.strip().startswith("#")]


class TestConstraints:
    """Every runtime dependency, and the build backend, pinned to a version setup.cfg accepts, with hashes."""

    def test_every_dependency_pinned_within_its_range(self) -> None:
        """Each install_requires entry has a pin that satisfies its specifier."""
        pins = pinned()
        for requirement in install_requires():
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{name} is not pinned in constraints.txt"
            assert requirement.specifier.contains(pins[name][0], prereleases=True), (name, pins[name][0])

    def test_every_entry_hashed_and_the_build_backend_included(self) -> None:
        """pip's --require-hashes needs a hash on every line; setuptools and wheel build redial offline."""
        pins = pinned()
        assert all(hashes for _, hashes in pins.values())
        assert {"setuptools", "wheel"} <= set(pins)
