# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The command line: a folder of downloaded release files in, one
checkpoint per config out, with a report and the strict self-check."""
import os.path as osp
import shutil

import pytest
import torch
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from converters.authors_cnn import build, randomise, save_cnn_checkpoint
from noah_mm.converters import load_config
from tool_loader import REPO, load_tool

tool = load_tool('tools/model_converters/noah_official_to_mmpretrain.py')


def test_help_documents_file_and_folder_use(capsys):
    with pytest.raises(SystemExit) as e:
        tool.parse_args(['--help'])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert 'single file:' in text and 'folder' in text
    assert 'conversion_report.txt' in text and '--ema' in text


def _logits(model, x):
    with torch.no_grad():
        return model(x)


def test_folder_mode(tmp_path, capsys):
    torch.manual_seed(0)
    noah = randomise(build('shufflenet_v2', True))
    baseline = randomise(build('mobilenet_v3_small', False), seed=1)
    src = tmp_path / 'downloads'
    (src / 'noah_shufflenetv2_100').mkdir(parents=True)
    (src / 'mobilenetv3_small').mkdir()
    save_cnn_checkpoint(noah,
                        src / 'noah_shufflenetv2_100' / 'model_best.pth.tar')
    save_cnn_checkpoint(baseline,
                        src / 'mobilenetv3_small' / 'checkpoint.pth.tar')
    (src / 'notes.txt').write_text('not a checkpoint')
    (src / 'broken.pth').write_bytes(b'\0' * 100)
    dst = tmp_path / 'converted'

    assert tool.main([str(src), str(dst)]) == 1  # broken.pth failed
    report = capsys.readouterr().out
    assert report == (dst / 'conversion_report.txt').read_text()
    lines = {line.split()[0]: line for line in report.splitlines()[1:-1]}
    assert set(lines) == {
        str(src / 'broken.pth'),
        str(src / 'mobilenetv3_small' / 'checkpoint.pth.tar'),
        str(src / 'noah_shufflenetv2_100' / 'model_best.pth.tar')
    }  # notes.txt is not a checkpoint name
    assert 'failed' in lines[str(src / 'broken.pth')]
    assert 'is not a checkpoint' in lines[str(src /
                                                          'broken.pth')]
    line = lines[str(src / 'noah_shufflenetv2_100' / 'model_best.pth.tar')]
    assert 'converted' in line and 'noah/shufflenetv2-1.0x_noah_in1k.py' \
        in line and 'noah head (N=8, C_k=32, C_v=96)' in line
    assert report.splitlines()[-1] == '2 of 3 files converted.'

    x = torch.randn(2, 3, 64, 64)
    for authors, config in ((noah, 'noah/shufflenetv2-1.0x_noah_in1k.py'),
                            (baseline, 'baseline/mobilenetv3-small_in1k.py')):
        out = dst / (osp.basename(config)[:-3] + '.pth')
        assert torch.load(out, weights_only=True)['meta']['config'] == config
        ours = MODELS.build(
            load_config(osp.join(REPO, 'configs', config)).model)
        load_checkpoint(ours, str(out), strict=True)  # as tools/test.py does
        with torch.no_grad():
            got = ours.eval()(x, mode='tensor')
        assert (got - _logits(authors, x)).abs().max() <= 1e-4

    # two files of the same model: reported, neither written
    again = tmp_path / 'again'
    shutil.copytree(src / 'noah_shufflenetv2_100', again / 'a')
    shutil.copytree(src / 'noah_shufflenetv2_100', again / 'b')
    out = tmp_path / 'out'
    assert tool.main([str(again), str(out)]) == 1
    assert capsys.readouterr().out.count('duplicate') == 2
    assert not (out / 'shufflenetv2-1.0x_noah_in1k.pth').exists()


def test_single_file_mode(tmp_path, capsys):
    torch.manual_seed(0)
    src = save_cnn_checkpoint(randomise(build('shufflenet_v2', False)),
                              tmp_path / 'model_best.pth.tar')
    dst = tmp_path / 'mine.pth'
    assert tool.main([str(src), str(dst)]) == 0
    assert 'baseline/shufflenetv2-1.0x_in1k.py' in capsys.readouterr().out
    assert torch.load(dst, weights_only=True)['meta'][
        'converted_from'] == 'model_best.pth.tar'
    folder = tmp_path / 'out'
    folder.mkdir()
    assert tool.main([str(src), str(folder)]) == 0
    assert (folder / 'shufflenetv2-1.0x_in1k.pth').is_file()
    assert tool.main([str(tmp_path / 'nothing.pth'), str(folder)]) == 1
    assert tool.main([str(src), str(folder), '--ema']) == 1
    assert 'no EMA weights' in capsys.readouterr().out
