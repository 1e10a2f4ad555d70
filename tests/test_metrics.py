"""Tests for redial.service.metrics and the shipped Grafana dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from redial.service.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parent.parent / "config" / "grafana-dashboard.json"


class TestDashboard:
    """Every metric the dashboard queries exists under that name."""

    def test_queries_use_real_metrics(self) -> None:
        metrics = Metrics()
        metrics.drops.labels("44", "trunk").inc()
        metrics.decisions.labels("redial", "abnormal_end").inc()
        metrics.outcomes.labels("connected").inc()
        metrics.drop_to_redial.observe(20)
        metrics.drop_to_connected.observe(30)
        metrics.event_lag.observe(0.001)
        metrics.ami_logins.inc()
        exposed = {
            line.split("{")[0].split(" ")[0]
            for line in metrics.exposition().decode().splitlines()
            if line and not line.startswith("#")
        }
        dashboard = json.loads(DASHBOARD.read_text())
        used = set()
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                used |= set(re.findall(r"redial_[a-z_]+", target["expr"]))
        assert used and used <= exposed, used - exposed
