# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Convert the NOAH authors' released checkpoints for noah_mm's configs.

The logic lives in :mod:`noah_mm.converters`; this is its command line.
"""
import argparse
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DESCRIPTION = """\
Convert the NOAH authors' released ImageNet checkpoints (NOAH and baseline,
CNN, DeiT, PVT, MLP-Mixer and gMLP; any of the files their training scripts
save: checkpoint.pth.tar, model_best.pth.tar, checkpoint.pth, ...) into
checkpoints of this repository's configs. Each file is read with PyTorch's
safe loader, recognised (family, width, NOAH or baseline head), converted,
loaded with strict=True into the model of the matching config (self-check)
and saved as <config name>.pth, e.g. resnet50_noah_in1k.pth for
configs/noah/resnet50_noah_in1k.py.

single file:
  %(prog)s noah_resnet50/model_best.pth.tar resnet50_noah_in1k.pth
  %(prog)s noah_resnet50/model_best.pth.tar converted/   (named by config)

folder (every *.pth, *.pth.tar, *.pt, *.tar, *.ckpt, *.bin below SRC):
  %(prog)s downloads/ converted/

A report of what each file was recognised as is printed (and, in folder
mode, written to DST/conversion_report.txt). The exit status is 1 when a
file could not be converted.
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        'src', help='a released checkpoint, or a folder of them (searched '
        'recursively)')
    parser.add_argument(
        'dst', help='the converted checkpoint (a file name ending in .pth), '
        'or a folder for <config name>.pth files (created if needed)')
    parser.add_argument(
        '--ema',
        action='store_true',
        help="convert the EMA weights ('model_ema' of DeiT, "
        "'state_dict_ema' of timm) instead of the raw weights; files "
        'without them fail')
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='skip building each config and loading the result strictly')
    parser.add_argument(
        '--config-root',
        default=osp.join(REPO, 'configs'),
        help='the configs folder the results are named after and checked '
        'against (default: this repository\'s configs/)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, REPO)  # run from a checkout without installing
    from noah_mm.converters import (convert_files, find_checkpoints,
                                    format_report)
    folder_mode = osp.isdir(args.src)
    if folder_mode:
        sources = find_checkpoints(args.src)
        if not sources:
            print(f'{args.src}: no checkpoint files (*.pth, *.pth.tar, ...) '
                  'found.', file=sys.stderr)
            return 1
    elif osp.isfile(args.src):
        sources = [args.src]
    else:
        print(f'{args.src}: no such file or folder.', file=sys.stderr)
        return 1
    out_file = None
    if not folder_mode and not osp.isdir(args.dst) and args.dst.endswith(
            ('.pth', '.pt')):
        out_file, out_dir = args.dst, osp.dirname(args.dst) or '.'
    elif folder_mode and osp.isfile(args.dst):
        print(f'{args.dst}: a folder source needs a folder destination.',
              file=sys.stderr)
        return 1
    else:
        out_dir = args.dst
    results = convert_files(sources, out_dir, args.config_root, args.ema,
                            check=not args.no_check, out_file=out_file)
    report = format_report(results)
    print(report)
    if folder_mode:
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, 'conversion_report.txt'), 'w') as f:
            f.write(report + '\n')
    return 0 if all(r.status == 'converted' for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
