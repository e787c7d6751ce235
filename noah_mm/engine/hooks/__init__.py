# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
from .data_order_hook import DataOrderHook
from .dataset_check_hook import (DatasetCheckHook, DatasetMismatchError,
                                 FileNamingPipeline, SampleLoadError)
from .rng_state_hook import RNGStateHook, get_rng_state, set_rng_state

__all__ = [
    'DataOrderHook', 'DatasetCheckHook', 'DatasetMismatchError',
    'FileNamingPipeline', 'SampleLoadError', 'RNGStateHook', 'get_rng_state',
    'set_rng_state'
]
