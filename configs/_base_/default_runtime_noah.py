# noah_mm's runtime, a base of every config in configs/ next to the stock
# default_runtime (it sets only these two keys, so it can sit beside any
# stock config). A config that inherits one of ours gets it too; do not list
# it again (mmengine refuses a key that two bases define).
#
# - custom_imports: importing noah_mm registers the models and, for every
#   script that reads this config, the engine pieces listed in
#   docs/en/training_behaviour.md ("What importing noah_mm registers"):
#   checkpoint verification on load, the 'atomic_local' file backend, the
#   hooks and the runner below.
# - runner_type: mmpretrain's and mmdet's tools/train.py and tools/test.py,
#   `mim train`, tools/train.py and tools/det/finetune.py build this runner.
#   NOAHRunner adds exact resume (RNGStateHook, DataOrderHook), atomic
#   checkpoint files for local directories, `--resume` from the newest
#   complete checkpoint, data checks before training (DatasetCheckHook) and
#   CPU-only distributed runs (noah_mm/engine/runner.py).
custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
runner_type = 'NOAHRunner'
