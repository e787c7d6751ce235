# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Keep the training data order in the checkpoint and restore it."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DataOrderHook(Hook):
    """Make a resumed run read its data in the uninterrupted run's order.

    mmengine's ``DefaultSampler`` shuffles with ``seed + epoch``. The seed is
    fixed when the train dataloader is built, which happens *before* the
    checkpoint is resumed: a run whose seed was not fixed in the config gets
    a new random sampler seed after a restart, and so a different data
    order. This hook writes the sampler's seed and epoch into the checkpoint
    (``checkpoint['data_order']``), puts the seed back when resuming, and
    sets the sampler's epoch at the start of every training epoch (as
    ``DistSamplerSeedHook`` does, so it also works without it).

    It also warns when the train dataloader has persistent workers: their
    random state lives in the worker processes and cannot be restored, so
    exact resumption needs ``persistent_workers=False`` (or
    ``num_workers=0``).
    """

    priority = 'NORMAL'

    @staticmethod
    def _sampler(runner):
        loader = runner.train_dataloader
        sampler = getattr(loader, 'sampler', None)
        batch_sampler = getattr(loader, 'batch_sampler', None)
        # mmengine samplers live either as ``sampler`` or inside the
        # batch sampler.
        for candidate in (sampler, getattr(batch_sampler, 'sampler', None)):
            if candidate is not None and hasattr(candidate, 'seed'):
                return candidate
        return sampler

    def before_train(self, runner) -> None:
        """Warn about settings that break exact resumption."""
        loader = runner.train_dataloader
        if getattr(loader, 'persistent_workers', False) and getattr(
                loader, 'num_workers', 0) > 0:
            runner.logger.warning(
                'train_dataloader uses persistent_workers=True: the workers\' '
                'random state cannot be saved, so a resumed run will not '
                'repeat an uninterrupted one exactly. Set '
                'train_dataloader.persistent_workers=False for that.')

    def before_train_epoch(self, runner) -> None:
        """Give the sampler the current epoch."""
        sampler = self._sampler(runner)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(runner.epoch)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record the sampler's seed and epoch."""
        sampler = self._sampler(runner)
        checkpoint['data_order'] = dict(
            sampler=type(sampler).__name__,
            seed=getattr(sampler, 'seed', None),
            epoch=getattr(sampler, 'epoch', None),
            shuffle=getattr(sampler, 'shuffle', None))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Put the sampler's seed back when resuming."""
        if not runner._resume:
            return
        order = checkpoint.get('data_order', None)
        if not order:
            runner.logger.warning(
                "The resumed checkpoint has no 'data_order': the sampler "
                'keeps its own seed.')
            return
        sampler = self._sampler(runner)
        seed = order.get('seed', None)
        if seed is not None and hasattr(sampler, 'seed'):
            if sampler.seed != seed:
                runner.logger.info(f'Resuming the data order: sampler seed '
                                   f'{sampler.seed} -> {seed}.')
            sampler.seed = seed
