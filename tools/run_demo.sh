#!/usr/bin/env bash
# The main job (README "Demo"): set up .venv if needed, write the scikit-learn
# digits as image folders, train NOAH (configs/demo/resnet18_noah_digits.py)
# and the baseline (configs/demo/resnet18_digits.py) on CPU, evaluate both on
# the held-out split with tools/test.py and print their top-1.
#
#   bash tools/run_demo.sh
#
# Work dirs: work_dirs/demo/<config>/ (started afresh each time); curves:
# work_dirs/demo/digits_curves.png. DEMO_EPOCHS=N overrides the epochs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::UserWarning,ignore::DeprecationWarning}"
OUT=work_dirs/demo
EXTRA=()
if [ -n "${DEMO_EPOCHS:-}" ]; then
    EXTRA=(--cfg-options "train_cfg.max_epochs=$DEMO_EPOCHS" \
           "param_scheduler.T_max=$DEMO_EPOCHS")
fi

"$PY" tools/dataset_converters/prepare_digits.py --out data/digits

declare -A TOP1 SECONDS_TAKEN
for name in resnet18_noah_digits resnet18_digits; do
    cfg="configs/demo/$name.py"
    wd="$OUT/$name"
    rm -rf "$wd"
    echo "=== training $name (log: $wd/<timestamp>/<timestamp>.log) ==="
    start=$(date +%s)
    "$PY" tools/train.py "$cfg" --work-dir "$wd" "${EXTRA[@]}"
    SECONDS_TAKEN[$name]=$(( $(date +%s) - start ))
    ckpt="$(cat "$wd/last_checkpoint")"
    "$PY" tools/test.py "$cfg" "$ckpt" --work-dir "$wd/test" \
        --out "$wd/test_metrics.json"
    TOP1[$name]=$("$PY" -c "import json,sys; print('%.2f' % json.load(open(sys.argv[1]))['accuracy/top1'])" "$wd/test_metrics.json")
done

"$PY" tools/analysis_tools/plot_curves.py "$OUT/resnet18_noah_digits" \
    "$OUT/resnet18_digits" --legend 'ResNet-18 + NOAH' 'ResNet-18 baseline' \
    --title 'scikit-learn digits, held-out split' --out "$OUT/digits_curves.png"

echo
echo "digits held-out top-1 (359 images, 10 classes):"
printf '  NOAH     (resnet18_noah_digits): %s %%  (training %s s)\n' \
    "${TOP1[resnet18_noah_digits]}" "${SECONDS_TAKEN[resnet18_noah_digits]}"
printf '  baseline (resnet18_digits):      %s %%  (training %s s)\n' \
    "${TOP1[resnet18_digits]}" "${SECONDS_TAKEN[resnet18_digits]}"
