#!/usr/bin/env bash
# The first GPU hour in one command (bench/gpu_check.py): vLLM generation tokens/s, SFT steps/s and MFU in bf16
# with the memory estimate beside the measured peak, a LoRA adapter served by vLLM, two GRPO steps with colocated
# vLLM and the fake REPL as the verifier, one round of `flywheel run` with the vllm back end; a random ~1B Llama
# built here, nothing downloaded. The table goes to docs/benchmarks.md with the device named.
#   scripts/gpu_check.sh          on a GPU machine (at most 8 minutes on one H200)
#   scripts/gpu_check.sh --dry    the same code on a CPU with the tiny model (what CI runs)
# The environment needs the test profile (scripts/env.sh test) with vllm on a GPU: pip install -e '.[gpu]'.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$PY" -m bench.gpu_check "$@"
