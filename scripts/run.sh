#!/usr/bin/env bash
# The main job on embedded defaults: a private PostgreSQL under the user's data directory, the store
# created, the bundled sample problems ingested, and the funnel printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh core
export PATH="$PWD/.venv/bin:$PATH"
flywheel db upgrade
flywheel ingest flywheel/data/sample_problems.jsonl --source minif2f-valid-sample \
  --map informal=informal_prefix --map id=name
flywheel status
