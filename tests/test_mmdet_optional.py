# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""``import noah_mm`` works without mmdet; the detection parts then say how
to install it."""
import os
import subprocess
import sys
import textwrap

from tool_loader import REPO

SCRIPT = textwrap.dedent('''
    import sys

    class NoMMDet:
        """Makes mmdet unimportable, as if it were not installed."""

        def find_spec(self, name, path=None, target=None):
            if name == 'mmdet' or name.startswith('mmdet.'):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoMMDet())

    import torch
    import noah_mm
    from noah_mm.registry import WITH_MMDET
    from mmpretrain import get_model
    from mmpretrain.registry import MODELS
    assert not WITH_MMDET
    assert 'mmdet' not in sys.modules

    head = MODELS.build(dict(type='NOAHHead', num_classes=5, in_channels=64,
                             num_heads=4, key_ratio=0.5))
    print('head', tuple(head((torch.rand(2, 64, 3, 3), )).shape))
    print('model', type(get_model('resnet18_noah_in1k').head).__name__)
    try:
        MODELS.build(dict(type='PyramidVisionTransformerCls'))
    except ImportError as e:
        print('pvt:', e)
    try:
        import noah_mm.models.roi_heads  # noqa: F401
    except ImportError as e:
        print('roi:', e)
''')


def test_import_without_mmdet():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert 'head (2, 5)' in lines
    assert 'model NOAHHead' in lines
    pvt = [line for line in lines if line.startswith('pvt:')]
    roi = [line for line in lines if line.startswith('roi:')]
    assert pvt and 'PyramidVisionTransformerCls needs mmdet' in pvt[0]
    assert roi and 'NOAHBBoxHead' in roi[0] and 'needs mmdet' in roi[0]
    for line in pvt + roi:
        assert 'pip install' in line
