#!/usr/bin/env bash
# Distributed training with torchrun: `bash tools/dist_train.sh CONFIG N [ARGS]`
# starts N processes on this machine (N GPUs with NCCL, or N CPU processes
# with gloo on a machine without CUDA). Several nodes: run it on each with
#   NNODES=2 NODE_RANK=0|1 MASTER_ADDR=<node 0 address> PORT=29500
# Extra ARGS go to tools/train.py (e.g. --resume, --cfg-options k=v).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_PROCESSES [train.py arguments]" >&2
    exit 2
fi
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$TOOLS/dist_launch.sh" "$TOOLS/train.py" "$2" "$1" "${@:3}"
