#!/usr/bin/env bash
# Distributed testing with torchrun:
#   bash tools/dist_test.sh CONFIG CHECKPOINT N [ARGS]
# (N GPUs with NCCL, or N CPU processes with gloo without CUDA; several nodes
# as in dist_train.sh). Extra ARGS go to tools/test.py (e.g. --out r.pkl).
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCESSES [test.py arguments]" >&2
    exit 2
fi
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$TOOLS/dist_launch.sh" "$TOOLS/test.py" "$3" "$1" "$2" "${@:4}"
