# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Convert the NOAH authors' released checkpoints to noah_mm / mmpretrain.

The authors' CNN checkpoints are torchvision-style ResNet or MobileNetV2 state
dicts saved under ``state_dict`` with DDP's ``module.`` prefix. Their head is
two grouped 1x1 convolutions, ``head.query`` and ``head.value`` (``groups=N``,
``N*M`` outputs, output channel ``n*M + m`` is block ``n``, class ``m``);
``head.query`` reads the first ``N*C_k`` (= ``floor(r*C)``) channels of the
last feature map and ``head.value`` the remaining ``N*C_v``.

That is the ``channel_layout='split_first'`` order of :class:`POCA`. Our
configs use the paper's ``'group_first'`` order (block ``i`` owns channels
``[i*C/N, (i+1)*C/N)``, keys first). The two block-wise channel sets differ, so
no re-arrangement of the head weights alone maps one onto the other. Two exact
conversions are offered:

* ``--channel-layout group_first`` (default): the checkpoint loads into our
  stock configs. The head weights are renamed, and the backbone's last-stage
  channels are permuted so that channel ``j`` of the new feature map is
  channel ``src[j]`` of the authors' (``src`` puts block ``i``'s key and value
  channels next to each other). For ResNet the permutation runs through the
  whole residual stream of the last stage (every block's output convolution
  and BN, the shortcut, and the input of the next block's first convolution),
  for MobileNetV2 through the final 1x1 convolution and its BN. Permuting the
  channels of a residual stream consistently is an exact re-parameterisation:
  the network computes the same logits.
* ``--channel-layout split_first``: the backbone is only renamed (weights
  byte-identical); load it into a config with
  ``model.head.channel_layout='split_first'``.

Supported: ResNet (BasicBlock / Bottleneck, any depth), MobileNetV2 (any
width), timm-style DeiT without class token (the NOAH DeiT models) into
mmpretrain's ``VisionTransformer`` with ``with_cls_token=False,
out_type='featmap'``, and timm gMLP into noah_mm's ``GMLP`` (which wraps
timm's model). For these token models ``group_first`` permutes the embedding
dimension of the whole residual stream (stem / patch and position embedding,
every block's norms, the inputs of qkv / fc1, the outputs of proj / fc2, the
final norm), which LayerNorm, attention, the MLPs and gMLP's spatial gating
(on the hidden channels) are equivariant to. Refused with a clear message:
DeiT checkpoints with a class token or extra layers whose names the release
does not document (e.g. DeiT-Tiny 0.75x/0.5x's ``Linear + Tanh`` before the
head), and the PVT and Mixer releases (their timm-style names do not map
one-to-one onto mmdet's PVT / mmpretrain's MlpMixer, so exactness cannot be
checked here).

The source is untrusted input: it is read with ``torch.load(...,
weights_only=True)``.

Example::

    python tools/model_converters/noah_official_to_mmpretrain.py \
        noah_resnet18.pth.tar resnet18_noah_converted.pth
"""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

HEAD_KEYS = ('head.query.weight', 'head.query.bias', 'head.value.weight',
             'head.value.bias')
BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var')
UNSUPPORTED_MARKERS = ('patch_embed1.', 'block1.', 'blocks.0.mlp_tokens.')
# timm gMLP tensors and how they touch the residual stream: 'out' rows write
# to it (or normalise it), 'in' columns read it, None does neither.
GMLP_PARTS = (
    (r'stem\.proj\.(weight|bias)$', 'out'),
    (r'blocks\.\d+\.norm\.(weight|bias)$', 'out'),
    (r'blocks\.\d+\.mlp_channels\.fc1\.weight$', 'in'),
    (r'blocks\.\d+\.mlp_channels\.fc1\.bias$', None),
    (r'blocks\.\d+\.mlp_channels\.gate\.(norm|proj)\.(weight|bias)$', None),
    (r'blocks\.\d+\.mlp_channels\.fc2\.(weight|bias)$', 'out'),
    (r'norm\.(weight|bias)$', 'out'),
)
# timm DeiT name -> mmpretrain VisionTransformer name
DEIT_NAMES = (
    (r'patch_embed\.proj\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'pos_embed$', 'pos_embed'),
    (r'blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'blocks\.(\d+)\.attn\.qkv\.', r'layers.\1.attn.qkv.'),
    (r'blocks\.(\d+)\.attn\.proj\.', r'layers.\1.attn.proj.'),
    (r'blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'norm\.(weight|bias)$', r'ln1.\1'),
)
LAYOUTS = ('group_first', 'split_first')


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read a checkpoint safely and strip the ``module.`` prefix.

    Accepts ``{'state_dict': ...}``, ``{'model': ...}`` or a bare state dict.
    """
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path} holds a {type(ckpt).__name__}, not a '
                         'checkpoint dict.')
    for key in ('state_dict', 'model'):
        if key in ckpt and isinstance(ckpt[key], dict):
            ckpt = ckpt[key]
            break
    state = OrderedDict()
    for name, value in ckpt.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'{path}: entry {name!r} is a '
                             f'{type(value).__name__}, not a tensor; is this '
                             'a state dict?')
        state[name[len('module.'):] if name.startswith('module.') else
              name] = value
    return state


def detect_arch(state: Dict[str, torch.Tensor]) -> str:
    """``'resnet'``, ``'mobilenet_v2'`` or ``'deit'``; ``ValueError`` else."""
    missing = [k for k in HEAD_KEYS if k not in state]
    if any(k.startswith(UNSUPPORTED_MARKERS) for k in state):
        raise ValueError(
            'this looks like a timm-style PVT/Mixer checkpoint (keys such '
            'as patch_embed1.*, blocks.*.mlp_tokens.*): only ResNet, '
            'MobileNetV2, DeiT and gMLP NOAH checkpoints are supported (see '
            'the module docstring for why).')
    if missing:
        raise ValueError(f'not a NOAH checkpoint from the authors: missing '
                         f'{missing} (expected the head as head.query and '
                         'head.value grouped convolutions).')
    if 'conv1.weight' in state and any(k.startswith('layer') for k in state):
        return 'resnet'
    if 'features.0.0.weight' in state:
        return 'mobilenet_v2'
    if ('patch_embed.proj.weight' in state
            and 'blocks.0.attn.qkv.weight' in state):
        return 'deit'
    if ('stem.proj.weight' in state
            and 'blocks.0.mlp_channels.gate.proj.weight' in state):
        return 'gmlp'
    raise ValueError('unknown backbone: expected a torchvision-style ResNet '
                     '(conv1, layer1..4), MobileNetV2 (features.*) or a '
                     'timm-style DeiT (patch_embed.*, blocks.*.attn.*) or '
                     'gMLP (stem.proj.*, blocks.*.mlp_channels.gate.*).')


def block_permutation(num_heads: int, key_channels: int,
                      value_channels: int) -> torch.Tensor:
    """Indices ``src`` with ``group_first[:, j] = split_first[:, src[j]]``."""
    N, Ck, Cv = num_heads, key_channels, value_channels
    src: List[int] = []
    for i in range(N):
        src.extend(range(i * Ck, (i + 1) * Ck))
        src.extend(range(N * Ck + i * Cv, N * Ck + (i + 1) * Cv))
    return torch.tensor(src, dtype=torch.long)


def convert_head(state: Dict[str, torch.Tensor], in_channels: int
                 ) -> Tuple[Dict[str, torch.Tensor], Tuple[int, int, int]]:
    """POCA weights from the authors' grouped convolutions.

    Returns the ``head.poca.*`` tensors and ``(N, C_k, C_v)``.
    """
    qw, qb = state['head.query.weight'], state['head.query.bias']
    vw, vb = state['head.value.weight'], state['head.value.bias']
    # token heads may use Conv1d (or Linear-shaped) 1x1 weights
    while 1 < qw.dim() < 4 and qw.dim() == vw.dim():
        qw, vw = qw[..., None], vw[..., None]
    if qw.dim() != 4 or vw.dim() != 4 or qw.shape[0] != vw.shape[0]:
        raise ValueError(f'head.query.weight {tuple(qw.shape)} and '
                         f'head.value.weight {tuple(vw.shape)} must be conv '
                         'weights with the same number of outputs (N*M).')
    key_ch, value_ch = qw.shape[1], vw.shape[1]
    group = key_ch + value_ch
    if in_channels % group:
        raise ValueError(f'the backbone gives {in_channels} channels, not a '
                         f'multiple of C_k + C_v = {key_ch} + {value_ch} read '
                         'by one head block: backbone and head do not match.')
    N = in_channels // group
    NM = qw.shape[0]
    if NM % N:
        raise ValueError(f'{NM} head outputs are not N*M for N={N} blocks.')
    M = NM // N
    k = qw.shape[-1]
    head = OrderedDict()
    # Output channel n*M + m is block n, class m: a plain reshape.
    head['head.poca.key_weight'] = qw.reshape(N, M, key_ch, k, k).clone()
    head['head.poca.key_bias'] = qb.reshape(N, M).clone()
    head['head.poca.value_weight'] = vw.reshape(N, M, value_ch, k,
                                                k).clone()
    head['head.poca.value_bias'] = vb.reshape(N, M).clone()
    return head, (N, key_ch, value_ch)


def _permute_conv_bn(out: Dict[str, torch.Tensor], conv: str, bn: str,
                     src: torch.Tensor) -> None:
    """Permute the output channels of ``conv`` and the BN ``bn`` after it."""
    out[conv] = out[conv][src].clone()
    for p in BN_PARAMS:
        out[f'{bn}.{p}'] = out[f'{bn}.{p}'][src].clone()


def resnet_out_channels(state: Dict[str, torch.Tensor]) -> int:
    stage = _last_resnet_stage(state)
    block = max(_resnet_blocks(state, stage))
    last = 'bn3' if f'{stage}.{block}.bn3.weight' in state else 'bn2'
    return state[f'{stage}.{block}.{last}.weight'].numel()


def _last_resnet_stage(state) -> str:
    stages = {int(m.group(1)) for k in state
              for m in [re.match(r'layer(\d+)\.', k)] if m}
    return f'layer{max(stages)}'


def _resnet_blocks(state, stage: str) -> List[int]:
    return sorted({int(m.group(1)) for k in state
                   for m in [re.match(rf'{stage}\.(\d+)\.', k)] if m})


def convert_resnet(state: Dict[str, torch.Tensor],
                   src=None) -> Dict[str, torch.Tensor]:
    """torchvision ResNet -> mmpretrain ResNet (same names, ``backbone.``)."""
    out = OrderedDict((k, v) for k, v in state.items()
                      if not k.startswith('head.'))
    unknown = [k for k in out if not re.match(
        r'(conv1|bn1)\.|layer\d+\.\d+\.(conv\d|bn\d|downsample\.[01])\.', k)]
    if unknown:
        raise ValueError(f'unexpected ResNet keys {unknown[:5]}: only '
                         'torchvision-style ResNets are supported.')
    if src is not None:
        stage = _last_resnet_stage(out)
        for b in _resnet_blocks(out, stage):
            pre = f'{stage}.{b}'
            last = 3 if f'{pre}.conv3.weight' in out else 2
            _permute_conv_bn(out, f'{pre}.conv{last}.weight', f'{pre}.bn{last}',
                             src)
            if f'{pre}.downsample.0.weight' in out:
                _permute_conv_bn(out, f'{pre}.downsample.0.weight',
                                 f'{pre}.downsample.1', src)
            if b > 0:  # reads the (permuted) output of the previous block
                w = out[f'{pre}.conv1.weight']
                out[f'{pre}.conv1.weight'] = w[:, src].clone()
    return OrderedDict(('backbone.' + k, v) for k, v in out.items())


def _mobilenet_v2_name(key: str, expands: Dict[int, bool]) -> str:
    """Map one torchvision MobileNetV2 key to mmpretrain's name."""
    m = re.match(r'features\.(\d+)\.(.*)', key)
    if m is None:
        raise ValueError(f'unexpected MobileNetV2 key {key!r}.')
    idx, rest = int(m.group(1)), m.group(2)
    last = max(expands) + 1
    if idx in (0, last):
        m2 = re.match(r'([01])\.(.*)', rest)
        if m2 is None:
            raise ValueError(f'unexpected MobileNetV2 key {key!r}.')
        part = 'conv' if m2.group(1) == '0' else 'bn'
        return f"{'conv1' if idx == 0 else 'conv2'}.{part}.{m2.group(2)}"
    # features.1..17 are the inverted residual blocks of 7 stages.
    stage_sizes = (1, 2, 3, 4, 3, 3, 1)
    offset, pos = idx - 1, None
    for s, n in enumerate(stage_sizes):
        if offset < n:
            pos = (s + 1, offset)
            break
        offset -= n
    if pos is None:
        raise ValueError(f'unexpected MobileNetV2 block in {key!r}.')
    m2 = re.match(r'conv\.(\d+)\.(.*)', rest)
    if m2 is None:
        raise ValueError(f'unexpected MobileNetV2 key {key!r}.')
    sub, tail = int(m2.group(1)), m2.group(2)
    # torchvision: [ConvBNReLU(expand)], ConvBNReLU(dw), conv(project), bn
    # mmpretrain:  [ConvModule(expand)], ConvModule(dw), ConvModule(project)
    n_convbn = 2 if expands[idx] else 1
    if sub < n_convbn:
        mod, t = tail.split('.', 1)
        name = f"{sub}.{'conv' if mod == '0' else 'bn'}.{t}"
    elif sub == n_convbn:
        name = f'{n_convbn}.conv.{tail}'
    else:
        name = f'{n_convbn}.bn.{tail}'
    return f'layer{pos[0]}.{pos[1]}.conv.{name}'


def mobilenet_v2_out_channels(state: Dict[str, torch.Tensor]) -> int:
    last = max(int(k.split('.')[1]) for k in state
               if k.startswith('features.'))
    return state[f'features.{last}.0.weight'].shape[0]


def convert_mobilenet_v2(state: Dict[str, torch.Tensor],
                         src=None) -> Dict[str, torch.Tensor]:
    """torchvision MobileNetV2 -> mmpretrain MobileNetV2 (``backbone.``)."""
    body = OrderedDict((k, v) for k, v in state.items()
                       if not k.startswith('head.'))
    unknown = [k for k in body if not k.startswith('features.')]
    if unknown:
        raise ValueError(f'unexpected MobileNetV2 keys {unknown[:5]}.')
    idx = sorted({int(k.split('.')[1]) for k in body})
    if idx != list(range(19)):
        raise ValueError(f'a torchvision MobileNetV2 has features.0..18, got '
                         f'{idx}.')
    # A block with an expansion layer has 4 modules (conv.0..conv.3).
    expands = {i: f'features.{i}.conv.3.weight' in body for i in range(1, 18)}
    if src is not None:
        _permute_conv_bn(body, 'features.18.0.weight', 'features.18.1', src)
    return OrderedDict(('backbone.' + _mobilenet_v2_name(k, expands), v)
                       for k, v in body.items())


def deit_out_channels(state: Dict[str, torch.Tensor]) -> int:
    return state['patch_embed.proj.weight'].shape[0]


def convert_deit(state: Dict[str, torch.Tensor],
                 src=None) -> Dict[str, torch.Tensor]:
    """timm DeiT (no class token) -> mmpretrain ``VisionTransformer``."""
    body = OrderedDict((k, v) for k, v in state.items()
                       if not k.startswith('head.'))
    if 'cls_token' in body or 'dist_token' in body:
        raise ValueError(
            'the DeiT checkpoint has a class/distillation token; NOAH DeiT '
            'models have none and our configs use with_cls_token=False.')
    out = OrderedDict()
    for key, value in body.items():
        for pattern, repl in DEIT_NAMES:
            if re.match(pattern, key):
                new = re.sub(pattern, repl, key)
                break
        else:
            raise ValueError(
                f'unexpected DeiT key {key!r}: the mapping of layers outside '
                'the timm DeiT (e.g. an input projection before the head) is '
                'not documented in the release, so it is not converted.')
        if src is not None:
            value = _permute_deit(key, value, src)
        out['backbone.' + new] = value
    return out


def _permute_deit(key: str, value: torch.Tensor,
                  src: torch.Tensor) -> torch.Tensor:
    """Permute the embedding dimension of one DeiT tensor."""
    if key == 'pos_embed':
        return value[..., src].clone()
    if re.search(r'(attn\.qkv|mlp\.fc1)\.weight$', key):
        return value[:, src].clone()  # reads the residual stream
    if re.search(r'attn\.qkv\.bias$|mlp\.fc1\.bias$', key):
        return value  # outputs are not the residual stream
    # writes to (or normalises) the residual stream: output channels
    return value[src].clone()


def gmlp_out_channels(state: Dict[str, torch.Tensor]) -> int:
    return state['stem.proj.weight'].shape[0]


def convert_gmlp(state: Dict[str, torch.Tensor],
                 src=None) -> Dict[str, torch.Tensor]:
    """timm gMLP -> noah_mm ``GMLP`` (timm's model under ``gmlp.``).

    The spatial gating unit works on the hidden channels, so only the stem,
    the block norms, ``fc1``'s inputs, ``fc2``'s outputs and the final norm
    see the permutation of the residual stream.
    """
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith('head.'):
            continue
        for pattern, role in GMLP_PARTS:
            if re.match(pattern, key):
                break
        else:
            raise ValueError(
                f'unexpected gMLP key {key!r}: only timm gMLP layers are '
                'converted.')
        if src is not None and role == 'out':
            value = value[src].clone()
        elif src is not None and role == 'in':
            value = value[:, src].clone()
        out['backbone.gmlp.' + key] = value
    return out


def convert(state: Dict[str, torch.Tensor],
            channel_layout: str = 'group_first'
            ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert an authors' state dict (``module.`` stripped).

    Args:
        state (dict): The authors' state dict.
        channel_layout (str): ``'group_first'`` for our stock configs (the
            backbone's last stage is permuted) or ``'split_first'`` for a
            config with ``head.channel_layout='split_first'``.

    Returns:
        tuple: The mmpretrain state dict and a dict describing the model
        (``arch``, ``in_channels``, ``num_heads``, ``num_classes``,
        ``key_channels``, ``value_channels``, ``channel_layout``).
    """
    if channel_layout not in LAYOUTS:
        raise ValueError(f'channel_layout must be one of {LAYOUTS}, got '
                         f'{channel_layout!r}.')
    arch = detect_arch(state)
    channels = dict(resnet=resnet_out_channels,
                    mobilenet_v2=mobilenet_v2_out_channels,
                    deit=deit_out_channels,
                    gmlp=gmlp_out_channels)[arch](state)
    head, (N, Ck, Cv) = convert_head(state, channels)
    src = (block_permutation(N, Ck, Cv)
           if channel_layout == 'group_first' else None)
    body = dict(resnet=convert_resnet, mobilenet_v2=convert_mobilenet_v2,
                deit=convert_deit, gmlp=convert_gmlp)[arch](state, src)
    body.update(head)
    info = dict(arch=arch, in_channels=channels, num_heads=N,
                num_classes=head['head.poca.key_bias'].shape[1],
                key_channels=Ck, value_channels=Cv,
                channel_layout=channel_layout)
    return body, info


def parse_args():
    parser = argparse.ArgumentParser(
        description="Convert the NOAH authors' ResNet / MobileNetV2 / DeiT / "
        'gMLP checkpoints to noah_mm (mmpretrain) checkpoints.')
    parser.add_argument('src', help="the authors' checkpoint")
    parser.add_argument('dst', help='where to save the converted checkpoint')
    parser.add_argument(
        '--channel-layout',
        default='group_first',
        choices=LAYOUTS,
        help="'group_first' (default) loads into our stock configs; "
        "'split_first' keeps the backbone weights unchanged and needs "
        "model.head.channel_layout='split_first' in the config")
    return parser.parse_args()


def main():
    args = parse_args()
    state = load_state_dict(args.src)
    converted, info = convert(state, args.channel_layout)
    meta = dict(converted_from=osp.basename(args.src), **info)
    torch.save(dict(state_dict=converted, meta=meta), args.dst)
    print(f'{info["arch"]}: N={info["num_heads"]} blocks, '
          f'M={info["num_classes"]} classes, C={info["in_channels"]} '
          f'(C_k={info["key_channels"]}, C_v={info["value_channels"]}), '
          f'channel_layout={args.channel_layout!r} -> {args.dst}')
    if args.channel_layout == 'split_first':
        print("load it with model.head.channel_layout='split_first'")


if __name__ == '__main__':
    main()
