"""Tests for redial.tools.doctor: the package's API, as the cli imports it.

Each module's own tests are in test_doctor_<module>.py; the run against a real
Asterisk is in test_integration_doctor.py.
"""

from __future__ import annotations

import redial.tools.doctor
from redial.tools.doctor import findings, probe, run


class TestPackage:
    """The package hands over the run, its input and its output from the modules that define them."""

    def test_api(self) -> None:
        from redial.tools.doctor import Admin, Finding, PbxProbe, ProbeError, Status, diagnose, render, verdict

        assert (Admin, diagnose) == (run.Admin, run.diagnose)
        assert (Finding, Status, render, verdict) == (
            findings.Finding,
            findings.Status,
            findings.render,
            findings.verdict,
        )
        assert (PbxProbe, ProbeError) == (probe.PbxProbe, probe.ProbeError)
        assert sorted(redial.tools.doctor.__all__) == sorted(
            ["Admin", "Finding", "PbxProbe", "ProbeError", "Status", "diagnose", "render", "verdict"]
        )
