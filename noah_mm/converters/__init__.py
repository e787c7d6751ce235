# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Conversion of the NOAH authors' released checkpoints to noah_mm."""
from . import cnn, transformer  # noqa: F401  (register the families)
from .batch import (Result, check_strict_load, convert_files,
                    find_checkpoints, format_report, load_config,
                    output_name, save_conversion)
from .checkpoint_io import (SAFE_GLOBALS, convert_checkpoint, load_official,
                            read_checkpoint)
from .families import (Conversion, Family, families, match_family,
                       register_family)
from .heads import NOAHShape, block_permutation, convert_noah_head

__all__ = [
    'Conversion', 'Family', 'NOAHShape', 'Result', 'SAFE_GLOBALS',
    'block_permutation', 'check_strict_load', 'convert_checkpoint',
    'convert_files', 'convert_noah_head', 'families', 'find_checkpoints',
    'format_report', 'load_config', 'load_official', 'match_family', 'output_name',
    'read_checkpoint', 'register_family', 'save_conversion'
]
