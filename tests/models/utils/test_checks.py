# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The shared argument checks, and that every noah_mm model component takes
only real booleans for its boolean arguments."""
import pytest
from mmdet.registry import MODELS as DET_MODELS
from mmpretrain.registry import MODELS

import noah_mm  # noqa: F401  (registers the components)
from noah_mm.models.utils.checks import (bool_parameters, check_bool,
                                         check_bool_kwargs, check_choice,
                                         check_float, check_int,
                                         check_pass_through, init_parameters)
from noah_mm.models.utils.poca import HEAD_ARGS, POCA


# ------------------------------------------------------------ the helpers
def test_check_int():
    assert check_int('n', 3, 1) == 3
    with pytest.raises(TypeError, match=r'n must be an int >= 1.*bool'):
        check_int('n', True, 1)
    with pytest.raises(TypeError, match='n must be an int'):
        check_int('n', 2.0, 1)
    with pytest.raises(ValueError, match='n must be >= 1, got 0'):
        check_int('n', 0, 1)


def test_check_float_intervals():
    assert check_float('p', 0, 0, 1) == 0
    assert check_float('p', 0.5, 0, 1) == 0.5
    with pytest.raises(ValueError, match=r'p must be in \[0, 1\), got 1'):
        check_float('p', 1, 0, 1)
    with pytest.raises(ValueError, match=r'r must be in \(0, 1\), got 0'):
        check_float('r', 0, 0, 1, include_low=False)
    assert check_float('r', 1, 0, 1, include_high=True) == 1
    for bad in ('0.5', True, None):
        with pytest.raises(TypeError, match='p must be a number'):
            check_float('p', bad, 0, 1)


def test_check_choice():
    assert check_choice('mode', 'a', ('a', 'b')) == 'a'
    with pytest.raises(ValueError, match=r"mode must be one of \('a', 'b'\)"
                       r", got 'c'"):
        check_choice('mode', 'c', ['a', 'b'])


def test_check_bool_rejects_everything_that_only_converts():
    assert check_bool('flag', False) is False
    for bad in ('False', 'True', 0, 1, None, 0.0):
        with pytest.raises(TypeError, match='flag must be True or False'):
            check_bool('flag', bad)


class _Parent:

    def __init__(self, size=3, with_bias=True, name='p'):
        pass


class _Child(_Parent):

    def __init__(self, with_norm=False, **kwargs):
        super().__init__(**kwargs)


def test_bool_parameters_follow_the_class_hierarchy():
    assert bool_parameters(_Child) == ['with_bias', 'with_norm']
    check_bool_kwargs(_Child, dict(size='3', name=1, with_bias=False))
    with pytest.raises(TypeError, match='with_bias must be True or False'):
        check_bool_kwargs(_Child, dict(with_bias='False'))


def test_check_pass_through():
    assert check_pass_through('cfg', None, _Parent, 'Head') == {}
    cfg = dict(with_bias=False)
    out = check_pass_through('cfg', cfg, _Parent, 'Head', owned=('size', ))
    assert out == cfg and out is not cfg
    with pytest.raises(TypeError, match='cfg must be a dict of _Parent'):
        check_pass_through('cfg', ['with_bias'], _Parent, 'Head')
    with pytest.raises(ValueError, match="cfg must not set 'size': Head sets"
                       ' size from its own arguments; give size to Head'):
        check_pass_through('cfg', dict(size=2), _Parent, 'Head',
                           owned=('size', ))
    with pytest.raises(TypeError, match=r"unknown _Parent argument 'colour'"
                       r".*\['with_bias', 'name'\]"):
        check_pass_through('cfg', dict(colour=1), _Parent, 'Head',
                           owned=('size', ))


def test_head_args_are_poca_arguments():
    assert set(HEAD_ARGS) <= set(init_parameters(POCA))
    assert 'self' not in init_parameters(POCA)


# ------------------------------------------- booleans of every component
# The smallest valid arguments of each registered noah_mm model component.
VALID_ARGS = {
    'POCA': dict(in_channels=8, num_classes=3, num_heads=2),
    'NOAHHead': dict(num_classes=3, in_channels=8, num_heads=2),
    'NOAHBBoxHead': dict(in_channels=8, num_classes=3, num_heads=2,
                         fc_out_channels=8),
    'GMLP': dict(arch=dict(embed_dims=8, num_layers=1, mlp_ratio=2),
                 img_size=16, patch_size=8),
    'PyramidVisionTransformerCls': dict(embed_dims=8, num_layers=[1] * 4),
    'PretrainedPVT': dict(embed_dims=8, num_layers=[1] * 4),
    'MobileNetV3Small': dict(),
    'NOAHReIDHead': dict(in_channels=8, out_channels=4, num_heads=2,
                         num_classes=3,
                         loss_cls=dict(type='mmpretrain.CrossEntropyLoss')),
    'FlatReIDDataPreprocessor': dict(),
}
# Boolean switches reached through a pass-through dict.
NESTED = {
    'NOAHHead': ('poca_cfg', POCA),
    'NOAHBBoxHead': ('poca_cfg', POCA),
}


def _components():
    """(registry, name) of every model component noah_mm registers."""
    found = []
    for registry in (MODELS, DET_MODELS):
        for name, cls in registry.module_dict.items():
            if cls.__module__.startswith('noah_mm.'):
                found.append((registry, name))
    return found


def _bool_cases():
    cases = []
    for registry, name in _components():
        cls = registry.get(name)
        for param in bool_parameters(cls):
            cases.append(pytest.param(registry, name, None, param,
                                      id=f'{name}.{param}'))
        if name in NESTED:
            key, target = NESTED[name]
            for param in bool_parameters(target):
                cases.append(pytest.param(registry, name, key, param,
                                          id=f'{name}.{key}.{param}'))
    return cases


def test_every_component_has_valid_test_arguments():
    names = {name for _, name in _components()}
    assert names == set(VALID_ARGS), (
        'add the new component to VALID_ARGS so its booleans are tested')
    for registry, name in _components():
        registry.build(dict(type=name, **VALID_ARGS[name]))


@pytest.mark.parametrize('registry, name, nested, param', _bool_cases())
def test_quoted_booleans_are_a_type_error_naming_the_parameter(
        registry, name, nested, param):
    cfg = dict(type=name, **VALID_ARGS[name])
    if nested is None:
        cfg[param] = 'False'
    else:
        cfg[nested] = {param: 'False'}
    with pytest.raises(TypeError, match=f'{param} must be True or False'):
        registry.build(cfg)


def test_the_issue_cases_are_among_the_tested_booleans():
    ids = {case.id for case in _bool_cases()}
    assert {'POCA.shared_attention', 'POCA.extra_linear',
            'NOAHHead.with_cls_token', 'NOAHHead.cal_acc',
            'NOAHHead.poca_cfg.shared_attention',
            'NOAHBBoxHead.reg_class_agnostic',
            'PyramidVisionTransformerCls.final_norm'} <= ids
