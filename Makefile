# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PY := .venv/bin/python

.PHONY: setup demo test lint unit

setup:
	bash scripts/setup.sh

# Boot the sandbox Asterisk, run the daemon with config/redial.yaml, drop a call, watch the redial.
demo: setup
	$(PY) -m sandbox.demo

# Lint, type-check, then every test, the integration tests on the real sandbox PBX included.
test: setup lint
	$(PY) -m pytest

lint:
	$(PY) -m ruff check redial tests bench sandbox
	$(PY) -m mypy

# The fast tests only (no PBX): for editing.
unit:
	$(PY) -m pytest -m "not integration"
