#!/usr/bin/env bash
# Run the test suite inside .venv, setting the environment up first if needed.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k poca -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
# Tests never need the network: no weights or data sets are downloaded.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec .venv/bin/python -m pytest tests -q "$@"
