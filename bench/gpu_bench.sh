#!/usr/bin/env bash
# GPU benchmark on a fresh machine: installs what it needs from wheels, then
# runs bench/gpu_bench.py (ResNet and Transformer s/epoch, GPU vs CPU, float32
# vs mixed_float16) within 10 minutes. Prints "no GPU" and exits 0 when the
# machine has no NVIDIA GPU.
#
# Usage: bench/gpu_bench.sh [gpu_bench.py options]
#   WHEELS=/path/to/wheels  install offline from a folder of wheels
#                           (pip download 'tensorflow[and-cuda]==2.16.2'
#                           tf-keras==2.16.0 numpy==1.26.4 on a connected machine)
#   PYTHON=python3.10       interpreter for a new venv (default: python3.10, python3)
#   GPU_BENCH_TIMEOUT=540   seconds gpu_bench.py may run
#
# Uses the project's .venv when it exists (adding only the CUDA libraries of
# the same TensorFlow), else builds .venv-gpu with just TensorFlow and tf_keras:
# gpu_bench.py needs no TFX.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  echo "no GPU"
  exit 0
fi
nvidia-smi -L

PIP_SOURCE=()
if [[ -n "${WHEELS:-}" ]]; then
  PIP_SOURCE=(--no-index --find-links "$WHEELS")
fi
REQS=("tensorflow[and-cuda]==2.16.2" "tf-keras==2.16.0" "numpy==1.26.4")

if [[ -x .venv/bin/python ]]; then
  VENV=.venv
else
  VENV=.venv-gpu
  if [[ ! -x $VENV/bin/python ]]; then
    PY="${PYTHON:-$(command -v python3.10 || command -v python3)}"
    "$PY" -m venv "$VENV"
  fi
fi
# Idempotent: pip skips what is installed already.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "${PIP_SOURCE[@]}" "${REQS[@]}"

exec timeout "${GPU_BENCH_TIMEOUT:-540}" "$VENV/bin/python" bench/gpu_bench.py "$@"
