custom_imports = dict(imports=['noah_mm'], allow_failed_imports=False)
# An alternative to mobilenetv3-small_noah_in1k.py: the same NOAH head and
# recipe on mmpretrain's stock MobileNetV3 (arch='small'; SE with biases after
# the activation, no expansion in the first block). The
# authors' checkpoints do not load into it.
_base_ = ['./mobilenetv3-small_noah_in1k.py']

model = dict(backbone=dict(_delete_=True, type='MobileNetV3', arch='small'))
