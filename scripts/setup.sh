#!/usr/bin/env bash
# Set up a fresh Debian machine for redial's demo and tests. Idempotent: a second
# run only checks. Needs root for apt-get (the sandbox Asterisk runs in a chroot).
#   - Debian packages: sip-tester (SIPp, the test phones), debootstrap (builds the sandbox)
#   - a virtualenv in .venv with redial and its test tools
#   - the sandbox Asterisk 22 root, built once and cached outside the repository in
#     ${REDIAL_SANDBOX_CACHE:-$HOME/.cache/redial}/asterisk-root
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)  # the unit's hardening score
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.redial-installed
# pip check also catches a venv that lost a dependency since the stamp was written.
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ] \
        || ! .venv/bin/python -m pip check --disable-pip-version-check >/dev/null 2>&1; then
    echo "setup: installing redial and its test tools into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi

# Builds the Asterisk root on first use only (about a minute, 500 MB).
.venv/bin/python -c "from sandbox import ensure_root; print('setup: sandbox Asterisk root at', ensure_root())"
