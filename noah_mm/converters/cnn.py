# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The CNN families of the NOAH release: ResNet, MobileNetV2,
MobileNetV3-Small and ShuffleNetV2, each NOAH and baseline.

The authors' CNNs (``models/noah_*.py`` of their repository) use
torchvision's module names; the classifier is ``head`` (``classifier`` for
MobileNetV3), either their NOAH head (``query`` / ``value``, see
:mod:`.heads`) or the baseline "GAP + flatten + linear"
(``head.2`` / ``classifier.1``). Each family maps the names onto the
mmpretrain model of our config and, for NOAH, permutes the channels of the
layers that write the head's input (:func:`.heads.block_permutation`):

* ResNet: the whole residual stream of the last stage - every block's last
  convolution and BN, the shortcut of the first block, and the input of the
  following blocks' first convolution;
* MobileNetV2 / ShuffleNetV2: the final 1x1 convolution and its BN;
* MobileNetV3-Small: the 576->1280 convolution in front of NOAH (``in_proj``
  of our :class:`~noah_mm.models.heads.NOAHHead`).
"""
import re
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

import torch

from .families import Conversion, Family, StateDict, register_family
from .heads import (NOAHShape, block_permutation, check_noah_shape,
                    convert_noah_head, has_noah_head, permute)

BN_STATS = ('weight', 'bias', 'running_mean', 'running_var')
NUM_CLASSES = 1000  # every released model is an ImageNet-1k classifier


def _rename(key: str, rules: Sequence[Tuple[str, str]], what: str) -> str:
    """Rename ``key`` with the first ``(pattern, replacement)`` rule whose
    pattern matches the whole key."""
    for pattern, repl in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, repl, key)
    raise ValueError(f'unexpected {what} key {key!r}: it is not a layer of '
                     f'the released {what}.')


def _permute_conv_bn(state: StateDict, conv: str, bn: str,
                     src: torch.Tensor) -> None:
    """Re-order the output channels of convolution ``conv`` and BN ``bn``."""
    state[conv] = permute(state[conv], src)
    for p in BN_STATS:
        state[f'{bn}.{p}'] = permute(state[f'{bn}.{p}'], src)


def _indices(state: StateDict, pattern: str) -> List[int]:
    """Sorted distinct integers captured by ``pattern`` at the key start."""
    return sorted({int(m.group(1)) for k in state
                   for m in [re.match(pattern, k)] if m})


class _CNNFamily(Family):
    """What the four CNN families share: the head and the conversion steps.

    A subclass tells which config builds a state dict (:meth:`_identify`),
    how many channels the head reads (:meth:`_head_channels`), and maps the
    backbone (:meth:`_backbone`, given the channel permutation or ``None``)
    and the baseline classifier (:meth:`_baseline_head`).
    """

    #: Module prefix of the classifier in the authors' network.
    head_prefix = 'head.'
    #: Key of the baseline's linear classifier (after ``head_prefix``).
    linear = '2'

    def _identify(self, state: StateDict) -> Tuple[str, dict]:
        """``(slug, facts)``: our config name stem, e.g. ``'resnet50'``, and
        what was found (for the report). Raises ``ValueError`` when no config
        of ours builds the network."""
        raise NotImplementedError

    #: ``(N, r)`` of the family's released NOAH models: N=8 blocks with key
    #: ratio 1/4 for the mobile networks (paper Table 1)
    noah_settings = (8, 1 / 4)

    def _noah_settings(self, slug: str) -> Tuple[int, float]:
        """``(N, r)`` of the released NOAH model ``slug``."""
        return self.noah_settings

    def _head_channels(self, state: StateDict) -> int:
        raise NotImplementedError

    def _backbone(self, state: StateDict,
                  src: Optional[torch.Tensor]) -> StateDict:
        raise NotImplementedError

    def _baseline_head(self, state: StateDict) -> StateDict:
        pre = f'{self.head_prefix}{self.linear}.'
        return OrderedDict([('head.fc.weight', state[pre + 'weight']),
                            ('head.fc.bias', state[pre + 'bias'])])

    def _noah_extra(self, state: StateDict, src: torch.Tensor) -> StateDict:
        """Layers between the backbone and NOAH (none by default)."""
        return OrderedDict()

    def _head_kind(self, state: StateDict) -> Optional[str]:
        if has_noah_head(state, self.head_prefix):
            return 'noah'
        linear = f'{self.head_prefix}{self.linear}.weight'
        if linear in state and state[linear].dim() == 2:
            return 'baseline'
        return None

    def body(self, state: StateDict) -> StateDict:
        """The backbone's part of ``state`` (no classifier)."""
        return OrderedDict((k, v) for k, v in state.items()
                           if not k.startswith(self.head_prefix))

    def convert(self, state: StateDict) -> Conversion:
        kind = self._head_kind(state)
        if kind is None:
            raise ValueError(
                f'a {self.name} network without a released classifier: '
                f'expected {self.head_prefix}query/value (NOAH) or '
                f'{self.head_prefix}{self.linear} (linear), found '
                f'{sorted(k for k in state if k.startswith(self.head_prefix))}'
            )
        slug, facts = self._identify(state)
        if kind == 'baseline':
            config = f'baseline/{slug}_in1k.py'
            num_classes = state[f'{self.head_prefix}{self.linear}.weight'
                                ].shape[0]
            if num_classes != NUM_CLASSES:
                raise ValueError(
                    f'a {num_classes}-class linear classifier; {config} '
                    f'classifies the {NUM_CLASSES} ImageNet-1k classes.')
            out = self._backbone(state, None)
            out.update(self._baseline_head(state))
            info = dict(family=self.name, head='baseline', **facts)
            return Conversion(config, out, info)

        config = f'noah/{slug}_noah_in1k.py'
        label = f'the {facts["arch"]} NOAH head'
        poca, shape = convert_noah_head(state, self.head_prefix,
                                        self._head_channels(state), label)
        num_heads, key_ratio = self._noah_settings(slug)
        check_noah_shape(shape, num_heads, key_ratio, NUM_CLASSES, config,
                         label)
        src = block_permutation(shape)
        out = self._backbone(state, src)
        out.update(self._noah_extra(state, src))
        out.update(('head.poca.' + k, v) for k, v in poca.items())
        info = dict(family=self.name, head='noah', **facts,
                    **_shape_info(shape))
        return Conversion(config, out, info)


def _shape_info(shape: NOAHShape) -> dict:
    return dict(num_heads=shape.num_heads, key_channels=shape.key_channels,
                value_channels=shape.value_channels)


# ----------------------------------------------------------------------------
# ResNet (models/noah_resnet.py: torchvision's ResNet names)
# ----------------------------------------------------------------------------
#: (bottleneck, blocks per stage) -> depth of the released ResNets
RESNET_DEPTHS = {
    (False, (2, 2, 2, 2)): 18,
    (True, (3, 4, 6, 3)): 50,
    (True, (3, 4, 23, 3)): 101,
    (True, (3, 8, 36, 3)): 152,
}
RESNET_KEY = re.compile(
    r'(conv1|bn1)\.\w+|layer[1-4]\.\d+\.(conv\d|bn\d|downsample\.[01])\.\w+')


@register_family
class ResNetFamily(_CNNFamily):
    """The released ResNet-18/50/101/152 onto mmpretrain's ``ResNet``
    (the same module names, under ``backbone.``)."""

    name = 'resnet'

    def matches(self, state: StateDict) -> bool:
        return ('conv1.weight' in state and 'layer4.0.conv1.weight' in state
                and 'bn1.running_var' in state)

    def _stages(self, state: StateDict) -> Tuple[bool, Tuple[int, ...]]:
        bottleneck = 'layer1.0.conv3.weight' in state
        blocks = tuple(
            len(_indices(state, rf'layer{s}\.(\d+)\.')) for s in range(1, 5))
        return bottleneck, blocks

    def _identify(self, state):
        unknown = [k for k in self.body(state) if not RESNET_KEY.fullmatch(k)]
        if unknown:
            raise ValueError(f'unexpected ResNet keys {unknown[:5]}: not a '
                             'layer of the released (torchvision-style) '
                             'ResNets.')
        bottleneck, blocks = self._stages(state)
        depth = RESNET_DEPTHS.get((bottleneck, blocks))
        if depth is None:
            raise ValueError(
                f'a ResNet with {"Bottleneck" if bottleneck else "BasicBlock"}'
                f' stages of {list(blocks)} blocks; the release (and our zoo) '
                'has ResNet-18, 50, 101 and 152 only.')
        return f'resnet{depth}', dict(arch=f'ResNet-{depth}')

    def _noah_settings(self, slug):
        return (4, 1 / 2) if slug == 'resnet18' else (4, 1 / 8)

    def _last_conv(self, state: StateDict, block: str) -> int:
        return 3 if f'{block}.conv3.weight' in state else 2

    def _head_channels(self, state):
        last = 'layer4.{}'.format(_indices(state, r'layer4\.(\d+)\.')[-1])
        return state[f'{last}.bn{self._last_conv(state, last)}.weight'].numel()

    def _backbone(self, state, src):
        out = self.body(state)
        if src is not None:
            for b in _indices(out, r'layer4\.(\d+)\.'):
                pre = f'layer4.{b}'
                last = self._last_conv(out, pre)
                _permute_conv_bn(out, f'{pre}.conv{last}.weight',
                                 f'{pre}.bn{last}', src)
                if f'{pre}.downsample.0.weight' in out:
                    _permute_conv_bn(out, f'{pre}.downsample.0.weight',
                                     f'{pre}.downsample.1', src)
                if b > 0:  # reads the (permuted) output of the previous block
                    out[f'{pre}.conv1.weight'] = permute(
                        out[f'{pre}.conv1.weight'], src, dim=1)
        return OrderedDict(('backbone.' + k, v) for k, v in out.items())


# ----------------------------------------------------------------------------
# MobileNetV2 (models/noah_mobilenetv2.py: torchvision's MobileNetV2 names)
# ----------------------------------------------------------------------------
#: (stem channels, last block's channels) -> width of the released models
MOBILENET_V2_WIDTHS = {(32, 320): '1.0', (24, 240): '0.75', (16, 160): '0.5',
                       (16, 112): '0.35'}
#: inverted residual blocks per stage (features.1 .. features.17)
MOBILENET_V2_STAGES = (1, 2, 3, 4, 3, 3, 1)


@register_family
class MobileNetV2Family(_CNNFamily):
    """The released MobileNetV2 1.0x/0.75x/0.5x/0.35x onto mmpretrain's
    ``MobileNetV2`` (``features.0`` -> ``conv1``, ``features.1..17`` ->
    ``layer1..7``, ``features.18`` -> ``conv2``)."""

    name = 'mobilenet_v2'

    def matches(self, state):
        # ConvBNReLU nests the first block's depthwise conv one level deeper
        # than MobileNetV3's plain Sequential
        return ('features.0.0.weight' in state
                and 'features.1.conv.0.0.weight' in state
                and 'features.18.0.weight' in state)

    def _identify(self, state):
        body = self.body(state)
        blocks = _indices(body, r'features\.(\d+)\.')
        if blocks != list(range(19)):
            raise ValueError(f'a MobileNetV2 has features.0..18, found '
                             f'features.{blocks}.')
        unknown = [k for k in body if not k.startswith('features.')]
        if unknown:
            raise ValueError(f'unexpected MobileNetV2 keys {unknown[:5]}.')
        stem = state['features.0.0.weight'].shape[0]
        last = state['features.17.conv.2.weight'].shape[0]
        width = MOBILENET_V2_WIDTHS.get((stem, last))
        if width is None:
            raise ValueError(
                f'a MobileNetV2 with a {stem}-channel stem and {last} '
                'channels in its last block; the release (and our zoo) has '
                'widths 1.0, 0.75, 0.5 and 0.35 only.')
        return (f'mobilenetv2-{width}x',
                dict(arch=f'MobileNetV2 {width}x'))

    def _head_channels(self, state):
        return state['features.18.0.weight'].shape[0]

    @staticmethod
    def _name(key: str) -> str:
        m = re.fullmatch(r'features\.(\d+)\.(.+)', key)
        idx, rest = int(m.group(1)), m.group(2)
        if idx in (0, 18):
            module = 'conv1' if idx == 0 else 'conv2'
            return _rename(rest, [(r'0\.(\w+)', rf'{module}.conv.\1'),
                                  (r'1\.(\w+)', rf'{module}.bn.\1')],
                           'MobileNetV2')
        offset = idx - 1
        for stage, size in enumerate(MOBILENET_V2_STAGES, 1):
            if offset < size:
                break
            offset -= size
        # authors: [ConvBNReLU(expand)], ConvBNReLU(dw), conv(project), bn
        # mmpretrain: [ConvModule(expand)], ConvModule(dw), ConvModule(project)
        n = 1 if idx == 1 else 2  # ConvBNReLUs: only block 1 has no expand
        rules = [(rf'conv\.({i})\.0\.(\w+)', rf'conv.\1.conv.\2')
                 for i in range(n)]
        rules += [(rf'conv\.({i})\.1\.(\w+)', rf'conv.\1.bn.\2')
                  for i in range(n)]
        rules += [(rf'conv\.{n}\.(\w+)', rf'conv.{n}.conv.\1'),
                  (rf'conv\.{n + 1}\.(\w+)', rf'conv.{n}.bn.\1')]
        return f'layer{stage}.{offset}.' + _rename(rest, rules,
                                                    'MobileNetV2')

    def _backbone(self, state, src):
        body = self.body(state)
        if src is not None:
            _permute_conv_bn(body, 'features.18.0.weight', 'features.18.1',
                             src)
        return OrderedDict(
            ('backbone.' + self._name(k), v) for k, v in body.items())


# ----------------------------------------------------------------------------
# MobileNetV3-Small (models/noah_mobilenetv3.py)
# ----------------------------------------------------------------------------
MOBILENET_V3_BLOCK_RULES = (
    (r'conv\.0\.(\w+)', r'expand_conv.conv.\1'),
    (r'conv\.1\.(\w+)', r'expand_conv.bn.\1'),
    (r'conv\.3\.(\w+)', r'depthwise_conv.conv.\1'),
    (r'conv\.4\.(\w+)', r'depthwise_conv.bn.\1'),
    (r'conv\.5\.fc\.0\.weight', 'se.fc1.weight'),
    (r'conv\.5\.fc\.2\.weight', 'se.fc2.weight'),
    (r'conv\.7\.(\w+)', r'linear_conv.conv.\1'),
    (r'conv\.8\.(\w+)', r'linear_conv.bn.\1'),
)


@register_family
class MobileNetV3SmallFamily(_CNNFamily):
    """The released MobileNetV3-Small onto our ``MobileNetV3Small`` backbone
    (``features.0`` -> ``layer0``, blocks ``features.1..11`` ->
    ``layer1..11``, ``features.12`` -> ``layer12``).

    The 576->1280 convolution that follows (with bias, then HSwish) is
    ``features.13`` in the NOAH model (on the 7x7 map; our ``head.in_proj``)
    and ``features.14`` in the baseline (after GAP; our
    ``StackedLinearClsHead``'s hidden layer); the baseline's classifier is
    ``classifier.1``.
    """

    name = 'mobilenet_v3_small'
    head_prefix = 'classifier.'
    linear = '1'

    def matches(self, state):
        return ('features.0.0.weight' in state
                and 'features.1.conv.0.weight' in state
                and any(k.startswith('classifier.') for k in state))

    def _identify(self, state):
        blocks = _indices(state, r'features\.(\d+)\.conv\.')
        last = max(_indices(state, r'features\.(\d+)\.'))
        last_conv = state.get('features.12.0.weight')
        if blocks != list(range(1, 12)) or last_conv is None or (
                last_conv.shape[0] != 576):
            raise ValueError(
                f'a MobileNetV3 with {len(blocks)} blocks; the release (and '
                'our zoo) has MobileNetV3-Small (11 blocks, then a 576-channel '
                'convolution) at width 1.0 only.')
        expected = 14 if self._head_kind(state) == 'baseline' else 13
        if last != expected:
            raise ValueError(
                f'a MobileNetV3-Small whose features end at features.{last}; '
                f'the released {self._head_kind(state)} model ends with the '
                f'576->1280 convolution at features.{expected}.')
        return 'mobilenetv3-small', dict(arch='MobileNetV3-Small')

    def _head_channels(self, state):
        return state['features.13.weight'].shape[0]

    def _backbone(self, state, src):
        out = OrderedDict()
        for k, v in self.body(state).items():
            m = re.fullmatch(r'features\.(\d+)\.(.+)', k)
            idx, rest = int(m.group(1)), m.group(2)
            if idx in (0, 12):
                name = _rename(rest, [(r'0\.(\w+)', r'conv.\1'),
                                      (r'1\.(\w+)', r'bn.\1')],
                               'MobileNetV3-Small')
            elif idx <= 11:
                name = _rename(rest, MOBILENET_V3_BLOCK_RULES,
                               'MobileNetV3-Small')
            else:  # the 576->1280 conv: a part of the head
                continue
            out[f'backbone.layer{idx}.{name}'] = v
        return out

    def _noah_extra(self, state, src):
        return OrderedDict([
            ('head.in_proj.0.weight', permute(state['features.13.weight'],
                                              src)),
            ('head.in_proj.0.bias', permute(state['features.13.bias'], src)),
        ])

    def _baseline_head(self, state):
        conv = state['features.14.weight']
        return OrderedDict([
            ('head.layers.0.fc.weight', conv.reshape(conv.shape[:2])),
            ('head.layers.0.fc.bias', state['features.14.bias']),
            ('head.layers.1.fc.weight', state['classifier.1.weight']),
            ('head.layers.1.fc.bias', state['classifier.1.bias']),
        ])


# ----------------------------------------------------------------------------
# ShuffleNetV2 (models/noah_shufflenetv2.py: torchvision's names)
# ----------------------------------------------------------------------------
SHUFFLENET_V2_RULES = (
    (r'conv1\.0\.(\w+)', r'conv1.conv.\1'),
    (r'conv1\.1\.(\w+)', r'conv1.bn.\1'),
    (r'conv5\.0\.(\w+)', r'layers.3.conv.\1'),
    (r'conv5\.1\.(\w+)', r'layers.3.bn.\1'),
)
# position in the authors' branch Sequential -> (ConvModule, conv or bn)
SHUFFLENET_V2_BRANCHES = {
    'branch1': {0: '0.conv', 1: '0.bn', 2: '1.conv', 3: '1.bn'},
    'branch2': {0: '0.conv', 1: '0.bn', 3: '1.conv', 4: '1.bn', 5: '2.conv',
                6: '2.bn'},
}
#: output channels of stage2..4 -> width of the released model
SHUFFLENET_V2_WIDTHS = {(116, 232, 464): '1.0'}


@register_family
class ShuffleNetV2Family(_CNNFamily):
    """The released ShuffleNetV2 1.0x onto mmpretrain's ``ShuffleNetV2``
    (``stage2..4`` -> ``layers.0..2``, ``conv5`` -> ``layers.3``)."""

    name = 'shufflenet_v2'

    def matches(self, state):
        return ('conv1.0.weight' in state
                and 'stage2.0.branch1.0.weight' in state
                and 'conv5.0.weight' in state)

    def _identify(self, state):
        widths = tuple(
            state[f'stage{s}.0.branch2.5.weight'].shape[0] * 2
            for s in (2, 3, 4))
        blocks = tuple(len(_indices(state, rf'stage{s}\.(\d+)\.'))
                       for s in (2, 3, 4))
        width = SHUFFLENET_V2_WIDTHS.get(widths)
        if width is None or blocks != (4, 8, 4):
            raise ValueError(
                f'a ShuffleNetV2 with stages of {list(widths)} channels and '
                f'{list(blocks)} blocks; the release (and our zoo) has '
                'ShuffleNetV2 1.0x (116, 232, 464 channels; 4, 8, 4 blocks) '
                'only.')
        return (f'shufflenetv2-{width}x',
                dict(arch=f'ShuffleNetV2 {width}x'))

    def _head_channels(self, state):
        return state['conv5.0.weight'].shape[0]

    @staticmethod
    def _name(key: str) -> str:
        m = re.fullmatch(r'stage([2-4])\.(\d+)\.(branch[12])\.(\d+)\.(\w+)',
                         key)
        if m is None:
            return _rename(key, SHUFFLENET_V2_RULES, 'ShuffleNetV2')
        stage, block, branch, pos, leaf = m.groups()
        part = SHUFFLENET_V2_BRANCHES[branch].get(int(pos))
        if part is None:
            raise ValueError(f'unexpected ShuffleNetV2 key {key!r}.')
        return f'layers.{int(stage) - 2}.{block}.{branch}.{part}.{leaf}'

    def _backbone(self, state, src):
        body = self.body(state)
        if src is not None:
            _permute_conv_bn(body, 'conv5.0.weight', 'conv5.1', src)
        return OrderedDict(
            ('backbone.' + self._name(k), v) for k, v in body.items())
