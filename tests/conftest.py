"""Shared test fixtures: corpus paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The shared corpus lives beside the repository (../shared); REDIAL_CORPUS overrides.
CORPUS = Path(os.environ.get("REDIAL_CORPUS", REPO.parent / "shared" / "corpus"))
ASTERISK22 = CORPUS / "asterisk22"
CACOFONISK = CORPUS / "cacofonisk"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not ASTERISK22.is_dir():
        pytest.fail(f"the AMI corpus is missing at {CORPUS} (set REDIAL_CORPUS)")
    return CORPUS


# The sandbox PBX (one Asterisk per test run) and SIPp registry, for the integration tests.
from tests.sandbox.fixtures import sandbox, sipps  # noqa: E402, F401
