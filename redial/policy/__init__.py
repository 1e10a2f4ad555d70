"""Redial policy: pure functions from a call's end to a decision with its reason."""
