#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the CPU build of
# PyTorch installed *first* (a bare `torch` requirement would pull a multi-GB
# CUDA build), then evalsuite in editable mode with all extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install -q "torch==${EVALSUITE_TORCH_VERSION:-2.13.0}"
fi
python -m pip install -q -e ".[all,dev]"
# Reference implementations the judging tests compare against; only their metrics
# code is used, and their full dependency lists are heavy, hence --no-deps.
python -m pip install -q --no-deps "fschat==0.2.36" "alpaca_eval==0.6.6" "diversity==0.3.1"
echo "evalsuite installed in $(pwd)/.venv"
