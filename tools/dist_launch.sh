#!/usr/bin/env bash
# Shared torchrun launcher of dist_train.sh and dist_test.sh:
#   bash tools/dist_launch.sh SCRIPT NUM_PROCESSES [SCRIPT arguments]
# starts NUM_PROCESSES copies of SCRIPT on this node (GPUs with NCCL, or CPU
# processes with gloo on a machine without CUDA), adding `--launcher pytorch`.
# Several nodes: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=<node 0 address> PORT=29500
set -euo pipefail

SCRIPT=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-python}
if [ -x "$ROOT/.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ]; then
    PYTHON="$ROOT/.venv/bin/python"
fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$SCRIPT" "${@:3}" --launcher pytorch
