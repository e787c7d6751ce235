#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment at .venv/ with a pinned,
# working OpenMMLab stack. Idempotent: a finished set-up is recorded in
# .venv/.noah_mm_setup and skipped next time unless the pins change.
#
# Why each pin (see README "Installation"):
#   * torch/torchvision are pinned together so pip resolves once;
#   * mmcv 2.1.0 is the newest release mmdet 3.3.0 accepts and has no wheel for a
#     current torch, so it is compiled from its source release with ops, against the
#     installed torch (no build isolation), and the wheel is cached under
#     ~/.cache/noah_mm/wheels/ keyed by torch version, so later set-ups reuse it;
#   * setuptools stays at 80.x: torch needs >=77.0.3, mmengine and mmcv's setup import
#     pkg_resources, which setuptools 82 removed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3.11}"
TORCH_VERSION="${TORCH_VERSION:-2.14.1}"
TORCHVISION_VERSION="${TORCHVISION_VERSION:-0.29.1}"
MMCV_VERSION="2.1.0"
PINS="setuptools==80.10.2 torch==${TORCH_VERSION} torchvision==${TORCHVISION_VERSION} mmcv==${MMCV_VERSION} mmengine==0.10.7 mmpretrain==1.2.0 mmdet==3.3.0"
CACHE_DIR="${NOAH_MM_CACHE:-$HOME/.cache/noah_mm}"
WHEEL_DIR="$CACHE_DIR/wheels/torch-${TORCH_VERSION}-py$("$PYTHON" -c 'import sys;print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
VENV="$ROOT/.venv"
STAMP="$VENV/.noah_mm_setup"
STAMP_TEXT="$PINS $(sha1sum "$ROOT/setup.cfg" "$ROOT/requirements/"*.txt | sha1sum | cut -c1-12)"

log() { echo "[setup_env] $*"; }

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_TEXT" ]]; then
    log ".venv is up to date ($STAMP)"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Every install below runs under the same pins, so no step can move another's
# choice (torch, for one, would otherwise pull the newest setuptools).
CONSTRAINTS="$VENV/noah_mm_constraints.txt"
printf '%s\n' $PINS > "$CONSTRAINTS"
# The machine's pip configuration lists local index folders that may not all exist;
# drop pip's "is ignored" notes so the log shows what matters.
run_pip() {
    local rc
    set +e
    "$VENV/bin/python" -m pip "$@" 2>&1 | grep -v "is ignored: it is neither"
    rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}
pip_install() { run_pip install -q -c "$CONSTRAINTS" "$@"; }

log "step 1/4: build tools (setuptools with pkg_resources) and torch ${TORCH_VERSION} + torchvision ${TORCHVISION_VERSION}"
pip_install setuptools wheel ninja
pip_install torch torchvision

log "step 2/4: mmcv ${MMCV_VERSION} with ops"
mkdir -p "$WHEEL_DIR"
MMCV_WHEEL="$(ls "$WHEEL_DIR"/mmcv-${MMCV_VERSION}-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "$MMCV_WHEEL" ]]; then
    log "no cached wheel in $WHEEL_DIR: compiling mmcv from source (about 15 min on 2 cores)"
    # Build requirements of mmcv's setup.py, installed into the venv because the
    # build runs without isolation against the venv's torch.
    pip_install packaging addict yapf numpy
    BUILD_TMP="$(mktemp -d)"
    run_pip download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==${MMCV_VERSION}" -d "$BUILD_TMP"
    tar -xzf "$BUILD_TMP/mmcv-${MMCV_VERSION}.tar.gz" -C "$BUILD_TMP"
    # Current torch headers (2.14 here) need C++20; mmcv 2.1.0 asks for C++17.
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$BUILD_TMP/mmcv-${MMCV_VERSION}/setup.py"
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        run_pip wheel --no-build-isolation --no-deps \
        "$BUILD_TMP/mmcv-${MMCV_VERSION}" -w "$BUILD_TMP/wheel"
    mv "$BUILD_TMP"/wheel/mmcv-${MMCV_VERSION}-*.whl "$WHEEL_DIR"/
    rm -rf "$BUILD_TMP"
    MMCV_WHEEL="$(ls "$WHEEL_DIR"/mmcv-${MMCV_VERSION}-*.whl | head -n1)"
else
    log "reusing cached wheel $MMCV_WHEEL"
fi

# A pure-Python mmcv (mmcv-lite, or a wheel built without ops) cannot serve
# mmdet: replace it by the compiled wheel.
if ! "$VENV/bin/python" -c "import mmcv._ext" >/dev/null 2>&1; then
    run_pip uninstall -q -y mmcv mmcv-lite >/dev/null 2>&1 || true
fi
log "step 3/4: OpenMMLab stack and project requirements"
pip_install "$MMCV_WHEEL" \
    -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

log "step 4/4: noah_mm (editable)"
pip_install --no-deps --no-build-isolation -e "$ROOT"

"$VENV/bin/python" - <<'PY'
import torch, mmcv, mmengine, mmpretrain, mmdet
from mmcv.ops import nms  # noqa: F401  (ops were compiled)
import noah_mm  # noqa: F401
print(f'[setup_env] torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmdet {mmdet.__version__}: OK')
PY
echo "$STAMP_TEXT" > "$STAMP"
