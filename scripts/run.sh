#!/usr/bin/env bash
# The main job on embedded defaults: a private PostgreSQL under the user's data directory, the store
# created, the bundled sample problems ingested, and the funnel printed. With a model configured
# (FLYWHEEL_CONFIG names a YAML file, or FLYWHEEL_GENERATOR__MODEL names a model) and a working Lean REPL
# (`flywheel lean setup`, or FLYWHEEL_LEAN_REPL), it then finishes any interrupted round and runs one more.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh core
export PATH="$PWD/.venv/bin:$PATH"
flywheel db upgrade
flywheel ingest flywheel/data/sample_problems.jsonl --source minif2f-valid-sample \
  --map informal=informal_prefix --map id=name
if [ -z "${FLYWHEEL_CONFIG:-}${FLYWHEEL_GENERATOR__MODEL:-}" ]; then
  echo "run: no model configured (FLYWHEEL_CONFIG or FLYWHEEL_GENERATOR__MODEL): stopping after ingest"
elif ! flywheel lean doctor; then
  echo "run: the Lean toolchain is not ready (see above; \`flywheel lean setup\` builds it): stopping after ingest"
else
  flywheel run --resume
  flywheel run --rounds 1   # workers: run.workers in the config, or FLYWHEEL_RUN__WORKERS
fi
flywheel status
