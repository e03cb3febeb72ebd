#!/usr/bin/env bash
# Sets up everything the project needs; idempotent and fast when done already.
#   1. a Python 3.10 venv in .venv with pip (TFX pip-installs the module file)
#   2. the pinned stack from requirements.lock (installed with uv), the project
#   3. the offline datasets (scripts/get_data.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON310:-}
if [ -z "$PY" ]; then
  for cand in /root/.pyenv/versions/3.10.13/bin/python python3.10; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.10 not found (TFX 1.16 needs it); set PYTHON310" >&2; exit 2; }

stamp=.venv/.setup-stamp
want=$(cat requirements.lock setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from requirements.lock (about 1 minute)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
  .venv/bin/python -m uv pip install -q --python .venv/bin/python -r requirements.lock
  .venv/bin/python -m uv pip install -q --python .venv/bin/python --no-deps -e .
  echo "$want" > "$stamp"
fi
# apt_tool COMMAND PURPOSE: installs the Debian package COMMAND for one
# test; where it cannot be installed (no root, no apt) that test is skipped,
# saying why.
apt_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; } || return 0
  echo "setup: installing the Debian package $1 ($2)"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1; }; } \
    || echo "setup: $1 not installed; the $2 will be skipped" >&2
}
# Headless Chromium renders the run report once (tests/test_report.py);
# Prometheus scrapes the server's metrics page once (tests/test_serving_metrics.py).
apt_tool chromium "headless report test"
apt_tool prometheus "metrics scrape test"
scripts/get_data.sh
