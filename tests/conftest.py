"""Shared test fixtures: corpus paths, and the sandbox PBX and SIPp registry of the integration tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.shared import Sipps, shared_sandbox, sipp_registry
from tests.rig import Rig, open_rig

REPO = Path(__file__).resolve().parent.parent
# The shared corpus lives beside the repository (../shared); REDIAL_CORPUS overrides.
CORPUS = Path(os.environ.get("REDIAL_CORPUS", REPO.parent / "shared" / "corpus"))
ASTERISK22 = CORPUS / "asterisk22"
CACOFONISK = CORPUS / "cacofonisk"


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test proves nothing: the run fails unless REDIAL_ALLOW_SKIPS=1."""
    if _skipped and os.environ.get("REDIAL_ALLOW_SKIPS") != "1" and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nredial: {len(_skipped)} test(s) skipped, which fails the run: {', '.join(_skipped[:5])}")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not ASTERISK22.is_dir():
        pytest.fail(f"the AMI corpus is missing at {CORPUS} (set REDIAL_CORPUS)")
    return CORPUS


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The running sandbox Asterisk, one per test process (see sandbox/shared.py)."""
    with shared_sandbox() as running:
        yield running


@pytest.fixture
def sipps() -> Iterator[Sipps]:
    """The test's SIPp processes, all stopped when the test ends, pass or fail."""
    with sipp_registry() as registry:
        yield registry


@pytest.fixture
async def rig(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Rig]:
    """The integration tests' rig on the session's sandbox (tests/rig.py): no phone, no daemon yet;
    everything the test set up is undone and the daemon checked when it ends."""
    async with open_rig(sandbox, tmp_path) as opened:
        yield opened
