# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Distributed training on CPU-only machines through mmengine.

mmengine 0.10.7's start-up assumes CUDA: ``init_dist`` calls
``torch.cuda.set_device(local_rank)`` before ``init_process_group`` and
``Runner.wrap_model`` gives DDP ``device_ids=[LOCAL_RANK]``; both fail on a
machine without a GPU. :class:`noah_mm.engine.NOAHRunner` applies the two
pieces here in that case:

1. :func:`init_cpu_process_group` starts the ``gloo`` process group from
   the launcher's environment (``torchrun``:
   ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``; slurm and OpenMPI
   variables are mapped onto those), so the runner finds an initialised
   group and skips its CUDA-only ``init_dist``;
2. :func:`cpu_model_wrapper_cfg` gives the ``model_wrapper_cfg`` with which
   mmengine wraps the model in its own ``MMDistributedDataParallel`` with
   ``device_ids=None`` (the CPU form).

Everything else (samplers, gradient all-reduce, logging, checkpointing) is
mmengine's and torch.distributed's as usual. On CUDA machines nothing is
changed.
"""
import datetime
import os
import subprocess
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

_LAUNCHERS = ('pytorch', 'slurm', 'mpi')


def _env_from_slurm() -> None:
    """Map slurm's variables onto torch.distributed's ``env://`` ones."""
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    os.environ.setdefault('MASTER_PORT', '29500')


def _env_from_mpi() -> None:
    """Map OpenMPI's variables onto torch.distributed's ``env://`` ones."""
    os.environ.setdefault('RANK', os.environ['OMPI_COMM_WORLD_RANK'])
    os.environ.setdefault('WORLD_SIZE', os.environ['OMPI_COMM_WORLD_SIZE'])
    os.environ.setdefault('LOCAL_RANK',
                          os.environ['OMPI_COMM_WORLD_LOCAL_RANK'])
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29500')


def init_cpu_process_group(launcher: str,
                           timeout: Optional[float] = None) -> None:
    """Start the ``gloo`` process group for ``launcher`` without CUDA calls.

    Args:
        launcher (str): ``'pytorch'`` (torchrun), ``'slurm'`` or ``'mpi'``.
        timeout (float, optional): Seconds before collectives time out.
            Defaults to torch's default.
    """
    if launcher not in _LAUNCHERS:
        raise ValueError(f'launcher must be one of {_LAUNCHERS} for a '
                         f'distributed run, but got {launcher!r}')
    if torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        _env_from_slurm()
    elif launcher == 'mpi':
        _env_from_mpi()
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise ValueError(
            f'launcher={launcher!r} needs the environment variables '
            f'{missing}: start the job with tools/dist_train.sh (torchrun) '
            'or tools/slurm_train.sh, or use --launcher none')
    os.environ.setdefault('LOCAL_RANK', os.environ['RANK'])
    kwargs = {}
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend='gloo',
        init_method='env://',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)


def cpu_model_wrapper_cfg(cfg: Config) -> dict:
    """The ``model_wrapper_cfg`` that wraps a model for CPU DDP.

    Keeps a user-given wrapper (and its options) and only sets
    ``device_ids=None`` when it is a :class:`DistributedDataParallel`
    subclass; otherwise builds mmengine's ``MMDistributedDataParallel`` with
    mmengine's defaults.

    Args:
        cfg (Config): The full config.

    Returns:
        dict: The wrapper config.
    """
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper = dict(wrapper)
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = wrapper['type']
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(
            wrapper_type, DistributedDataParallel):
        # CPU modules: DDP must not be given devices.
        wrapper['device_ids'] = None
        wrapper.pop('output_device', None)
    return wrapper
