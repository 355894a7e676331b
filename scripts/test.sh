#!/usr/bin/env bash
# The whole test suite against a real PostgreSQL (started here if it is not answering).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh test
if [ -z "${FLYWHEEL_TEST_DB_URL:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "test: starting the local PostgreSQL cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
# The report's browser test opens its page in headless Chromium (Debian's package), installed here when we
# may; where it cannot be, that test skips (and fails under CI=true).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing chromium for the browser test" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; } \
    || echo "test: chromium could not be installed; the browser test will say so" >&2
fi
exec .venv/bin/python -m pytest "$@"
