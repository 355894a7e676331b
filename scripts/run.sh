#!/usr/bin/env bash
# The main job, with no configuration: a pilot round on the bundled sample problems. It creates .venv and the
# store (a private PostgreSQL under the user's data directory), ingests the 20 sample problems, and checks what a
# round needs: a model (the configured one, else flywheel.config.DEFAULT_MODEL, with vLLM on a GPU and
# transformers otherwise, where a CPU round is a pilot of 2 problems), the network, and Lean (`flywheel lean
# setup --yes` when it is missing and GitHub answers). With all of them it finishes any interrupted round and runs
# one more. Whatever is missing is named with the command that fixes it, and what can run still runs (with the
# model but no Lean, the problems are formalized). Either way it prints the funnel, writes the report beside the
# round's data (runs/, or FLYWHEEL_RUN__LOG_DIR) and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh core
export PATH="$PWD/.venv/bin:$PATH"
source_name=minif2f-valid-sample
flywheel db upgrade
flywheel ingest flywheel/data/sample_problems.jsonl --source "$source_name" \
  --map informal=informal_prefix --map id=name
eval "$(python -m orchestration.main_job)"   # MODEL BACKEND CONFIGURED MODEL_OK NETWORK_OK LIMIT
if [ "$CONFIGURED" = 0 ]; then
  export FLYWHEEL_GENERATOR__MODEL="$MODEL" FLYWHEEL_GENERATOR__BACKEND="$BACKEND"
fi
pilot=(--source "$source_name")
if [ -n "$LIMIT" ]; then pilot+=(--limit "$LIMIT"); fi

doctor_log="$(mktemp)"
trap 'rm -f "$doctor_log"' EXIT
lean_ok=0
if flywheel lean doctor >"$doctor_log" 2>&1; then
  lean_ok=1
elif [ "$NETWORK_OK" = 1 ]; then
  echo "run: Lean is not set up: flywheel lean setup --yes (elan, Lean, Mathlib's cache, the REPL, lean4checker)"
  if flywheel lean setup --yes && flywheel lean doctor >"$doctor_log" 2>&1; then lean_ok=1; fi
fi
if [ "$lean_ok" = 0 ]; then
  echo "run: MISSING Lean ($(tail -n 1 "$doctor_log"))."
  if [ "$NETWORK_OK" = 1 ]; then
    echo "run:   Fix: flywheel lean setup --yes failed above; its output says why (flywheel lean doctor lists what is missing)"
  else
    echo "run:   https://github.com cannot be reached (no network), so it cannot be set up here."
    echo "run:   Fix: connect this machine, then \`flywheel lean setup --yes\`"
  fi
fi

if [ "$MODEL_OK" = 1 ] && [ "$lean_ok" = 1 ]; then
  flywheel run --resume
  flywheel run --rounds 1 "${pilot[@]}"   # workers: run.workers in the config, or FLYWHEEL_RUN__WORKERS
elif [ "$MODEL_OK" = 1 ]; then
  echo "run: no Lean, so the round stops after autoformalization; run this script again once Lean is set up"
  flywheel autoformalize "${pilot[@]}"
else
  echo "run: no model at hand, so no round runs: the sample problems are stored, the funnel follows"
fi
out="${FLYWHEEL_RUN__LOG_DIR:-runs}"   # where `flywheel run` writes its datasets and logs
mkdir -p "$out"
flywheel status | tee "$out/status.txt"
if flywheel report --help >/dev/null 2>&1; then
  flywheel report --out "$out/report" || echo "run: the HTML report could not be written (see above)"
fi
echo "run: report: $out/status.txt$([ -f "$out/report/index.html" ] && echo ", $out/report/index.html")"
