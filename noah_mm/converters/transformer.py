# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The transformer and MLP families of the NOAH release: DeiT (with the
Tiny 0.75x/0.5x widths), PVT, MLP-Mixer and gMLP, each NOAH and baseline.

The authors' networks (``vit/deit/*.py``, ``vit/pvt/classification/*.py``
and ``mlp/timm/models/*mlp_mixer.py`` of their repository) use timm's module
names. Each family renames them onto the model of our config:

* DeiT -> mmpretrain's ``VisionTransformer``; the baselines keep the class
  token and classify it with ``VisionTransformerClsHead``, the NOAH models
  have no class token and NOAH reads the 14x14 patch tokens. Widths below 192
  have ``pre_logits = Linear(width -> 192) + Tanh`` before the classifier:
  the head's ``pre_logits`` layer (baseline, on the class token) or
  ``NOAHHead``'s ``in_proj`` (NOAH, on every token);
* PVT -> noah_mm's ``PyramidVisionTransformerCls`` (mmdet's PVT v1 names;
  ``attn.q`` and ``attn.kv`` become one ``in_proj``, the MLPs 1x1
  convolutions); the baselines classify a class token, NOAH reads the last
  stage's 7x7 map;
* MLP-Mixer -> mmpretrain's ``MlpMixer``;
* gMLP -> noah_mm's ``GMLP`` (timm's network under ``gmlp.``).

NOAH: the authors' head reads its keys from the first half of the channels
(``split_first``), our configs use the paper's ``group_first`` layout, so the
channels of the tensor NOAH reads are permuted (:func:`.heads.
block_permutation`). That tensor is the residual stream of the whole network
(DeiT, Mixer, gMLP) or of PVT's last stage: the permutation goes through every
layer that writes it (patch embedding, position embedding, the outputs of the
attention / MLP projections, every LayerNorm) and every layer that reads it
(the inputs of qkv and of the first MLP layer). LayerNorm, attention, the
token-mixing MLPs and gMLP's spatial gating (which acts on the hidden
channels) commute with such a permutation, so the network computes the same
logits. Where DeiT's ``pre_logits`` projection feeds NOAH, only its outputs
are permuted.
"""
import re
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch

from .families import Conversion, Family, StateDict, register_family
from .heads import (block_permutation, check_noah_shape, convert_noah_head,
                    has_noah_head, permute)

NUM_CLASSES = 1000  # every released model is an ImageNet-1k classifier
#: ``(N, r)`` of every released transformer / MLP NOAH model
NOAH_SETTINGS = (4, 1 / 2)

#: What a tensor does with the channels NOAH reads: ``'out'`` writes (or
#: normalises) them (dim 0), ``'in'`` reads them (dim 1), ``'last'`` is an
#: embedding added to them (last dim), ``None`` does neither.
ROLE_DIMS = {'out': 0, 'in': 1, 'last': -1}

#: ``(pattern of the authors' key, our key, role)``; the replacement is a
#: template for ``re.Match.expand`` or a function of the match.
Rule = Tuple[str, Union[str, Callable[[re.Match], str]], Optional[str]]


def _map_state(state: StateDict, rules: Sequence[Rule],
               src: Optional[torch.Tensor], what: str) -> StateDict:
    """Rename every key of ``state`` with the first rule whose pattern
    matches the whole key, permuting the channels given by its role by
    ``src`` (when not None).

    Raises:
        ValueError: for a key no rule knows (naming it and ``what``).
    """
    out = OrderedDict()
    for key, value in state.items():
        for pattern, repl, role in rules:
            match = re.fullmatch(pattern, key)
            if match:
                break
        else:
            raise ValueError(f'unexpected {what} key {key!r}: it is not a '
                             f'layer of the released {what} networks.')
        new = repl(match) if callable(repl) else match.expand(repl)
        if src is not None and role is not None:
            value = permute(value, src, dim=ROLE_DIMS[role])
        out[new] = value
    return out


def _without_roles(rules: Sequence[Rule]) -> List[Rule]:
    return [(pattern, repl, None) for pattern, repl, _ in rules]


def _shape(state: StateDict, key: str, arch: str) -> torch.Size:
    """The shape of ``state[key]``; a clear error when the key is missing."""
    if key not in state:
        raise ValueError(f'a {arch} network without {key!r}: not one of the '
                         f'released {arch} networks.')
    return state[key].shape


def _count(state: StateDict, pattern: str) -> int:
    """How many distinct integers ``pattern`` captures at the key start."""
    return len({m.group(1) for k in state for m in [re.match(pattern, k)]
                if m})


def _linear_to_conv(state: StateDict, pattern: str) -> None:
    """Give the 2-d weights whose keys match ``pattern`` the shape of 1x1
    convolutions (in place)."""
    for key, value in state.items():
        if re.fullmatch(pattern, key) and value.dim() == 2:
            state[key] = value[:, :, None, None]


class _TokenFamily(Family):
    """What the four families share: the head and the conversion steps.

    A subclass tells which config builds a state dict (:meth:`_identify`),
    how many channels NOAH reads (:meth:`_head_channels`) and how the keys map
    (:meth:`_rules`); :meth:`_finish` reshapes what renaming cannot.
    """

    #: Architecture name in messages, e.g. ``'DeiT'``.
    arch = ''

    def _identify(self, state: StateDict, kind: str) -> Tuple[str, dict]:
        """``(slug, facts)``: our config's name stem, e.g.
        ``'deit-tiny-0.75x'``, and what was found (for the report).

        Raises:
            ValueError: when no config of ours builds the network.
        """
        raise NotImplementedError

    def _head_channels(self, state: StateDict) -> int:
        raise NotImplementedError

    def _rules(self, state: StateDict, kind: str) -> List[Rule]:
        """The renaming of every key except the NOAH head's, with the roles
        of the tensors in the channels NOAH reads."""
        raise NotImplementedError

    def _finish(self, out: StateDict) -> StateDict:
        return out

    def _head_kind(self, state: StateDict) -> str:
        if has_noah_head(state, 'head.'):
            return 'noah'
        if 'head.weight' in state and state['head.weight'].dim() == 2:
            num_classes = state['head.weight'].shape[0]
            if num_classes != NUM_CLASSES:
                raise ValueError(
                    f'a {num_classes}-class linear classifier; our '
                    f'{self.arch} configs classify the {NUM_CLASSES} '
                    'ImageNet-1k classes.')
            return 'baseline'
        raise ValueError(
            f'a {self.arch} network without a released classifier: expected '
            'head.query/head.value (NOAH) or head.weight (linear), found '
            f'{sorted(k for k in state if k.startswith("head."))}.')

    def convert(self, state: StateDict) -> Conversion:
        kind = self._head_kind(state)
        slug, facts = self._identify(state, kind)
        rules = self._rules(state, kind)
        if kind == 'baseline':
            out = _map_state(state, rules, None, self.arch)
            return Conversion(f'baseline/{slug}_in1k.py', self._finish(out),
                              dict(family=self.name, head='baseline',
                                   **facts))
        config = f'noah/{slug}_noah_in1k.py'
        label = f'the {facts["arch"]} NOAH head'
        poca, shape = convert_noah_head(state, 'head.',
                                        self._head_channels(state), label)
        check_noah_shape(shape, *NOAH_SETTINGS, NUM_CLASSES, config, label)
        body = OrderedDict(
            (k, v) for k, v in state.items() if not k.startswith('head.'))
        out = _map_state(body, rules, block_permutation(shape), self.arch)
        out.update(('head.poca.' + k, v) for k, v in poca.items())
        info = dict(family=self.name, head='noah', **facts)
        info.update(num_heads=shape.num_heads,
                    key_channels=shape.key_channels,
                    value_channels=shape.value_channels)
        return Conversion(config, self._finish(out), info)


# ----------------------------------------------------------------------------
# DeiT (vit/deit/{vision_transformer,noah_vision_transformer}.py)
# ----------------------------------------------------------------------------
#: embedding width -> (our config stem, name); all 12 blocks, MLP ratio 4
DEIT_WIDTHS = {
    768: ('deit-base', 'DeiT-Base'),
    384: ('deit-small', 'DeiT-Small'),
    192: ('deit-tiny', 'DeiT-Tiny'),
    144: ('deit-tiny-0.75x', 'DeiT-Tiny 0.75x'),
    96: ('deit-tiny-0.5x', 'DeiT-Tiny 0.5x'),
}
#: width of the authors' ``pre_logits`` projection (added below it)
DEIT_PRE_LOGITS = 192
DEIT_PATCHES = 14 * 14  # 224 px, 16 px patches
DEIT_STREAM: List[Rule] = [
    (r'cls_token', 'backbone.cls_token', 'last'),
    (r'pos_embed', 'backbone.pos_embed', 'last'),
    (r'patch_embed\.proj\.(weight|bias)', r'backbone.patch_embed.projection.\1',
     'out'),
    (r'blocks\.(\d+)\.norm([12])\.(weight|bias)', r'backbone.layers.\1.ln\2.\3',
     'out'),
    (r'blocks\.(\d+)\.attn\.qkv\.weight', r'backbone.layers.\1.attn.qkv.weight',
     'in'),
    (r'blocks\.(\d+)\.attn\.qkv\.bias', r'backbone.layers.\1.attn.qkv.bias',
     None),
    (r'blocks\.(\d+)\.attn\.proj\.(weight|bias)',
     r'backbone.layers.\1.attn.proj.\2', 'out'),
    (r'blocks\.(\d+)\.mlp\.fc1\.weight',
     r'backbone.layers.\1.ffn.layers.0.0.weight', 'in'),
    (r'blocks\.(\d+)\.mlp\.fc1\.bias',
     r'backbone.layers.\1.ffn.layers.0.0.bias', None),
    (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)',
     r'backbone.layers.\1.ffn.layers.1.\2', 'out'),
    (r'norm\.(weight|bias)', r'backbone.ln1.\1', 'out'),
]


@register_family
class DeiTFamily(_TokenFamily):
    """The released DeiT-Base/Small/Tiny and DeiT-Tiny 0.75x/0.5x (224 px)
    onto mmpretrain's ``VisionTransformer``."""

    name = 'deit'
    arch = 'DeiT'

    def matches(self, state: StateDict) -> bool:
        return ('patch_embed.proj.weight' in state
                and 'blocks.0.attn.qkv.weight' in state)

    def _identify(self, state, kind):
        width = _shape(state, 'patch_embed.proj.weight', self.arch)[0]
        if width not in DEIT_WIDTHS:
            raise ValueError(
                f'a DeiT of width {width}; the release (and our zoo) has '
                f'widths {sorted(DEIT_WIDTHS, reverse=True)}.')
        slug, arch = DEIT_WIDTHS[width]
        depth = _count(state, r'blocks\.(\d+)\.')
        hidden = _shape(state, 'blocks.0.mlp.fc1.weight', self.arch)[0]
        if (depth, hidden) != (12, 4 * width):
            raise ValueError(
                f'a DeiT of width {width} with {depth} blocks and MLP width '
                f'{hidden}; the released {arch} has 12 blocks and MLP width '
                f'{4 * width}.')
        tokens = _shape(state, 'pos_embed', self.arch)[1]
        cls_token = 'cls_token' in state
        expected = DEIT_PATCHES + (kind == 'baseline')
        if tokens != expected or cls_token != (kind == 'baseline'):
            raise ValueError(
                f'a {kind} {arch} with {tokens} position embeddings and '
                f'{"a" if cls_token else "no"} class token; the released 224 '
                f'px {kind} model has {expected} and '
                f'{"a" if kind == "baseline" else "no"} class token (the '
                '384 px DeiT-Base has 577 and is not in the zoo).')
        pre_logits = 'pre_logits.fc.weight' in state
        if pre_logits != (width < DEIT_PRE_LOGITS):
            raise ValueError(
                f'a {arch} {"with" if pre_logits else "without"} '
                'pre_logits.fc; the released one has '
                f'{"it" if width < DEIT_PRE_LOGITS else "none"}.')
        return slug, dict(arch=arch, embed_dims=width)

    def _head_channels(self, state):
        if 'pre_logits.fc.weight' in state:
            return state['pre_logits.fc.weight'].shape[0]
        return state['patch_embed.proj.weight'].shape[0]

    def _rules(self, state, kind):
        if kind == 'baseline':
            return _without_roles(DEIT_STREAM) + [
                (r'pre_logits\.fc\.(weight|bias)',
                 r'head.layers.pre_logits.\1', None),
                (r'head\.(weight|bias)', r'head.layers.head.\1', None),
            ]
        if 'pre_logits.fc.weight' not in state:
            return list(DEIT_STREAM)
        # NOAH reads the projection's outputs: only they are permuted
        return _without_roles(DEIT_STREAM) + [
            (r'pre_logits\.fc\.(weight|bias)', r'head.in_proj.0.\1', 'out')]

    def _finish(self, out):
        _linear_to_conv(out, r'head\.in_proj\.0\.weight')
        return out


# ----------------------------------------------------------------------------
# PVT (vit/pvt/classification/{pvt,noah_pvt}.py)
# ----------------------------------------------------------------------------
#: stage widths -> (our config stem, name); 2 blocks per stage
PVT_WIDTHS = {
    (64, 128, 320, 512): ('pvt-tiny', 'PVT-Tiny'),
    (48, 96, 240, 384): ('pvt-tiny-0.75x', 'PVT-Tiny 0.75x'),
    (32, 64, 160, 256): ('pvt-tiny-0.5x', 'PVT-Tiny 0.5x'),
}
PVT_STAGES = 4


def _pvt_rules(stage: int, last: bool) -> List[Rule]:
    """The renaming of stage ``stage`` (1-based) of the authors' PVT onto
    mmdet's PVT v1 (``layers.<stage-1>``: ``0`` the patch embedding, ``1``
    the position embedding and then the blocks). Only the last stage carries
    the channels NOAH reads."""
    s, i = stage, stage - 1

    def block(suffix: str) -> Callable[[re.Match], str]:
        # block j follows the position embedding: index j + 1
        return lambda m: (f'backbone.layers.{i}.1.{int(m.group(1)) + 1}.'
                          + m.expand(suffix))

    rules: List[Rule] = [
        (rf'patch_embed{s}\.proj\.(weight|bias)',
         rf'backbone.layers.{i}.0.projection.\1', 'out'),
        (rf'patch_embed{s}\.norm\.(weight|bias)',
         rf'backbone.layers.{i}.0.norm.\1', 'out'),
        (rf'pos_embed{s}', f'backbone.layers.{i}.1.0.pos_embed', 'last'),
        (rf'block{s}\.(\d+)\.norm([12])\.(weight|bias)', block(r'norm\2.\3'),
         'out'),
        # attn.q + attn.kv, joined by PVTFamily.convert
        (rf'block{s}\.(\d+)\.attn\.qkv\.weight',
         block('attn.attn.in_proj_weight'), 'in'),
        (rf'block{s}\.(\d+)\.attn\.qkv\.bias', block('attn.attn.in_proj_bias'),
         None),
        (rf'block{s}\.(\d+)\.attn\.proj\.(weight|bias)',
         block(r'attn.attn.out_proj.\2'), 'out'),
        # spatial reduction: reads the stream, writes its own tokens
        (rf'block{s}\.(\d+)\.attn\.sr\.weight', block('attn.sr.weight'), 'in'),
        (rf'block{s}\.(\d+)\.attn\.sr\.bias', block('attn.sr.bias'), None),
        (rf'block{s}\.(\d+)\.attn\.norm\.(weight|bias)',
         block(r'attn.norm.\2'), None),
        (rf'block{s}\.(\d+)\.mlp\.fc1\.weight', block('ffn.layers.0.weight'),
         'in'),
        (rf'block{s}\.(\d+)\.mlp\.fc1\.bias', block('ffn.layers.0.bias'),
         None),
        (rf'block{s}\.(\d+)\.mlp\.fc2\.(weight|bias)',
         block(r'ffn.layers.3.\2'), 'out'),
    ]
    return rules if last else _without_roles(rules)


@register_family
class PVTFamily(_TokenFamily):
    """The released PVT-Tiny 1.0x/0.75x/0.5x onto noah_mm's
    ``PyramidVisionTransformerCls`` (mmdet's PVT v1)."""

    name = 'pvt'
    arch = 'PVT'

    def matches(self, state: StateDict) -> bool:
        return ('patch_embed1.proj.weight' in state
                and 'block1.0.attn.q.weight' in state)

    def _identify(self, state, kind):
        widths = tuple(
            state[f'patch_embed{s}.proj.weight'].shape[0]
            if f'patch_embed{s}.proj.weight' in state else 0
            for s in range(1, PVT_STAGES + 1))
        depths = tuple(
            _count(state, rf'block{s}\.(\d+)\.')
            for s in range(1, PVT_STAGES + 1))
        if widths not in PVT_WIDTHS or depths != (2, ) * PVT_STAGES:
            raise ValueError(
                f'a PVT with stage widths {list(widths)} and {list(depths)} '
                'blocks; the release (and our zoo) has PVT-Tiny (2 blocks '
                f'per stage) of widths {[list(w) for w in PVT_WIDTHS]}.')
        cls_token = 'cls_token' in state
        if cls_token != (kind == 'baseline'):
            raise ValueError(
                f'a {kind} PVT {"with" if cls_token else "without"} a class '
                f'token; the released {kind} models have '
                f'{"one" if kind == "baseline" else "none"}.')
        slug, arch = PVT_WIDTHS[widths]
        return slug, dict(arch=arch, embed_dims=list(widths))

    def _head_channels(self, state):
        return state[f'patch_embed{PVT_STAGES}.proj.weight'].shape[0]

    def _rules(self, state, kind):
        rules: List[Rule] = []
        for s in range(1, PVT_STAGES + 1):
            rules += _pvt_rules(s, last=s == PVT_STAGES)
        rules += [
            (r'norm\.(weight|bias)', r'backbone.final_norm.\1', 'out'),
            (r'cls_token', 'backbone.cls_token', 'last'),
            (r'head\.(weight|bias)', r'head.fc.\1', None),
        ]
        return rules

    def convert(self, state: StateDict) -> Conversion:
        # mmdet's attention is torch's MultiheadAttention: one in_proj for
        # [q; k; v], where the authors have q and kv ([k; v]).
        joined = OrderedDict()
        for key, value in state.items():
            m = re.fullmatch(r'(block\d+\.\d+\.attn\.)(q|kv)\.(weight|bias)',
                             key)
            if m is None:
                joined[key] = value
            elif m.group(2) == 'q':
                kv = f'{m.group(1)}kv.{m.group(3)}'
                if kv not in state:
                    raise ValueError(f'{key} without {kv}: not a released '
                                     'PVT.')
                joined[f'{m.group(1)}qkv.{m.group(3)}'] = torch.cat(
                    [value, state[kv]])
            elif f'{m.group(1)}q.{m.group(3)}' not in state:
                raise ValueError(f'{key} without its attn.q: not a released '
                                 'PVT.')
        return super().convert(joined)

    def _finish(self, out):
        _linear_to_conv(out, r'backbone\.layers\.\d+\.1\.\d+\.ffn\.layers\.'
                        r'[03]\.weight')
        return out


# ----------------------------------------------------------------------------
# MLP-Mixer (mlp/timm/models/{mlp_mixer,noah_mlp_mixer}.py)
# ----------------------------------------------------------------------------
#: width -> (our config stem, name, blocks, token MLP, channel MLP)
MIXER_WIDTHS = {
    768: ('mixer-base', 'MLP-Mixer-Base/16', 12, 384, 3072),
    512: ('mixer-small', 'MLP-Mixer-Small/16', 8, 256, 2048),
    384: ('mixer-small-0.75x', 'MLP-Mixer-Small/16 0.75x', 8, 192, 1536),
    256: ('mixer-small-0.5x', 'MLP-Mixer-Small/16 0.5x', 8, 128, 1024),
}
MIXER_RULES: List[Rule] = [
    (r'stem\.proj\.(weight|bias)', r'backbone.patch_embed.projection.\1',
     'out'),
    (r'blocks\.(\d+)\.norm([12])\.(weight|bias)', r'backbone.layers.\1.ln\2.\3',
     'out'),
    # token mixing acts on the token axis, the same for every channel
    (r'blocks\.(\d+)\.mlp_tokens\.fc1\.(weight|bias)',
     r'backbone.layers.\1.token_mix.layers.0.0.\2', None),
    (r'blocks\.(\d+)\.mlp_tokens\.fc2\.(weight|bias)',
     r'backbone.layers.\1.token_mix.layers.1.\2', None),
    (r'blocks\.(\d+)\.mlp_channels\.fc1\.weight',
     r'backbone.layers.\1.channel_mix.layers.0.0.weight', 'in'),
    (r'blocks\.(\d+)\.mlp_channels\.fc1\.bias',
     r'backbone.layers.\1.channel_mix.layers.0.0.bias', None),
    (r'blocks\.(\d+)\.mlp_channels\.fc2\.(weight|bias)',
     r'backbone.layers.\1.channel_mix.layers.1.\2', 'out'),
    (r'norm\.(weight|bias)', r'backbone.ln1.\1', 'out'),
    (r'head\.(weight|bias)', r'head.fc.\1', None),
]


@register_family
class MixerFamily(_TokenFamily):
    """The released MLP-Mixer-Base/16 and Small/16 1.0x/0.75x/0.5x onto
    mmpretrain's ``MlpMixer``."""

    name = 'mlp_mixer'
    arch = 'MLP-Mixer'

    def matches(self, state: StateDict) -> bool:
        return ('stem.proj.weight' in state
                and 'blocks.0.mlp_tokens.fc1.weight' in state)

    def _identify(self, state, kind):
        width = state['stem.proj.weight'].shape[0]
        found = (_count(state, r'blocks\.(\d+)\.'),
                 state['blocks.0.mlp_tokens.fc1.weight'].shape[0],
                 _shape(state, 'blocks.0.mlp_channels.fc1.weight',
                        self.arch)[0])
        if width not in MIXER_WIDTHS or found != MIXER_WIDTHS[width][2:]:
            known = '; '.join(f'{v[1]}: width {w}, {v[2:]}'
                              for w, v in MIXER_WIDTHS.items())
            raise ValueError(
                f'an MLP-Mixer of width {width} with (blocks, token MLP, '
                f'channel MLP) = {found}; the release (and our zoo) has '
                f'{known}.')
        slug, arch = MIXER_WIDTHS[width][:2]
        return slug, dict(arch=arch, embed_dims=width)

    def _head_channels(self, state):
        return state['stem.proj.weight'].shape[0]

    def _rules(self, state, kind):
        return MIXER_RULES


# ----------------------------------------------------------------------------
# gMLP (the gMLP models of mlp/timm/models/{mlp_mixer,noah_mlp_mixer}.py)
# ----------------------------------------------------------------------------
#: width -> (our config stem, name); 30 blocks, MLP ratio 6
GMLP_WIDTHS = {
    256: ('gmlp-small', 'gMLP-Small/16'),
    128: ('gmlp-tiny', 'gMLP-Tiny/16'),
    96: ('gmlp-tiny-0.75x', 'gMLP-Tiny/16 0.75x'),
    64: ('gmlp-tiny-0.5x', 'gMLP-Tiny/16 0.5x'),
}
GMLP_RULES: List[Rule] = [
    (r'stem\.proj\.(weight|bias)', r'backbone.gmlp.stem.proj.\1', 'out'),
    (r'blocks\.(\d+)\.norm\.(weight|bias)', r'backbone.gmlp.blocks.\1.norm.\2',
     'out'),
    (r'blocks\.(\d+)\.mlp_channels\.fc1\.weight',
     r'backbone.gmlp.blocks.\1.mlp_channels.fc1.weight', 'in'),
    (r'blocks\.(\d+)\.mlp_channels\.fc1\.bias',
     r'backbone.gmlp.blocks.\1.mlp_channels.fc1.bias', None),
    # the spatial gating unit acts on the hidden channels and the tokens
    (r'blocks\.(\d+)\.mlp_channels\.gate\.(norm|proj)\.(weight|bias)',
     r'backbone.gmlp.blocks.\1.mlp_channels.gate.\2.\3', None),
    (r'blocks\.(\d+)\.mlp_channels\.fc2\.(weight|bias)',
     r'backbone.gmlp.blocks.\1.mlp_channels.fc2.\2', 'out'),
    (r'norm\.(weight|bias)', r'backbone.gmlp.norm.\1', 'out'),
    (r'head\.(weight|bias)', r'head.fc.\1', None),
]


@register_family
class GMLPFamily(_TokenFamily):
    """The released gMLP-Small/16 and Tiny/16 1.0x/0.75x/0.5x onto noah_mm's
    ``GMLP``."""

    name = 'gmlp'
    arch = 'gMLP'

    def matches(self, state: StateDict) -> bool:
        return ('stem.proj.weight' in state
                and 'blocks.0.mlp_channels.gate.proj.weight' in state)

    def _identify(self, state, kind):
        width = state['stem.proj.weight'].shape[0]
        depth = _count(state, r'blocks\.(\d+)\.')
        hidden = _shape(state, 'blocks.0.mlp_channels.fc1.weight',
                        self.arch)[0]
        if width not in GMLP_WIDTHS or (depth, hidden) != (30, 6 * width):
            raise ValueError(
                f'a gMLP of width {width} with {depth} blocks and MLP width '
                f'{hidden}; the release (and our zoo) has widths '
                f'{sorted(GMLP_WIDTHS, reverse=True)}, 30 blocks and MLP '
                'ratio 6.')
        slug, arch = GMLP_WIDTHS[width]
        return slug, dict(arch=arch, embed_dims=width)

    def _head_channels(self, state):
        return state['stem.proj.weight'].shape[0]

    def _rules(self, state, kind):
        return GMLP_RULES
