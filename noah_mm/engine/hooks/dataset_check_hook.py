# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Check the data sets before a run and name the file a sample fails on."""
import os.path as osp
from typing import Iterator, List, Optional

from mmengine.fileio import get_file_backend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop

from noah_mm.models.utils.checks import check_bool


class DatasetMismatchError(ValueError):
    """The train and val sets disagree on the classes, or a class is empty."""


class SampleLoadError(RuntimeError):
    """A data sample (usually its image file) could not be loaded."""


class FileNamingPipeline:
    """Wrap a data pipeline so that its errors name the sample's file.

    mmcv's image loading fails on an empty or damaged image with a cv2 or PIL
    error that names no file. This wrapper re-raises any error of the wrapped
    pipeline as :class:`SampleLoadError` carrying the sample's ``img_path``
    (or the keys of the sample when it has none) and the original error.

    Args:
        pipeline (callable): The data set's pipeline (a ``Compose``).
    """

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    def __call__(self, data_info: dict):
        try:
            return self.pipeline(data_info)
        except SampleLoadError:
            raise
        except Exception as e:
            where = data_info.get('img_path') if isinstance(
                data_info, dict) else None
            what = (f'the image file {where!r}' if where is not None else
                    f'the sample {sorted(data_info)!r}' if isinstance(
                        data_info, dict) else 'a sample')
            raise SampleLoadError(
                f'Could not load {what}: {type(e).__name__}: {e}. The file '
                'may be empty, truncated or not an image: replace or remove '
                'it (and its line in the annotation file, if any).') from e

    def __getattr__(self, name):
        # ``transforms`` and friends of the wrapped Compose; never recurse
        # while unpickling (``pipeline`` is not set yet then).
        if name == 'pipeline':
            raise AttributeError(name)
        return getattr(self.pipeline, name)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.pipeline!r})'


def _leaf_datasets(dataset) -> Iterator:
    """The data sets inside wrappers (Concat, Repeat, ClassBalanced)."""
    inner = getattr(dataset, 'datasets', None)
    if isinstance(inner, (list, tuple)):
        for d in inner:
            yield from _leaf_datasets(d)
        return
    if hasattr(dataset, 'dataset') and not hasattr(dataset, 'pipeline'):
        yield from _leaf_datasets(dataset.dataset)
        return
    yield dataset


def _classes(dataset) -> Optional[tuple]:
    classes = getattr(dataset, 'metainfo', {}).get('classes', None)
    return tuple(classes) if classes is not None else None


def _class_folder_root(dataset) -> Optional[str]:
    """The folder whose sub-folders are the classes, or None.

    mmpretrain's ``CustomDataset`` without an annotation file takes its
    classes from the sub-folders of ``img_prefix`` (``folder_to_idx``).
    """
    if getattr(dataset, 'folder_to_idx', None) is None:
        return None
    return getattr(dataset, 'img_prefix', None)


def _empty_class_folders(dataset, root: str) -> List[str]:
    """Class folders of a folder-layout data set without a valid file.

    Looks at the folders themselves (stopping at the first valid file of
    each), so it costs one directory listing per class, not a pass over the
    samples.
    """
    backend = get_file_backend(root, enable_singleton=True)
    is_valid = getattr(dataset, 'is_valid_file', lambda name: True)
    empty = []
    for folder in sorted(dataset.folder_to_idx):
        path = backend.join_path(root, folder)
        files = backend.list_dir_or_file(
            path, list_dir=False, list_file=True, recursive=True)
        if not any(is_valid(name) for name in files):
            empty.append(path)
    return empty


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Refuse data sets that would silently shift or break the labels.

    Before a training run (``before_run``):

    - the train and val data sets must list the same classes: with
      image-folder data sets a class folder that exists in one split only
      renumbers every later class in that split, and accuracy is silently
      wrong. The error names the folders found in one split only.
    - no class folder of an image-folder data set may be empty: an empty
      folder is still a class, so the labels no longer match
      ``num_classes``. The error names the empty folders.

    For every run (train, val or test), the data sets' pipelines are wrapped
    in :class:`FileNamingPipeline`, so an unreadable image (e.g. 0 bytes)
    fails with :class:`SampleLoadError` naming the file.

    Args:
        check_classes (bool): Compare the train and val classes. Defaults
            to True.
        check_empty_folders (bool): Refuse empty class folders. Defaults to
            True.
        name_failing_files (bool): Wrap the pipelines. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 check_classes: bool = True,
                 check_empty_folders: bool = True,
                 name_failing_files: bool = True) -> None:
        self.check_classes = check_bool('check_classes', check_classes)
        self.check_empty_folders = check_bool('check_empty_folders',
                                              check_empty_folders)
        self.name_failing_files = check_bool('name_failing_files',
                                             name_failing_files)

    @staticmethod
    def _built_datasets(runner, which=('train', 'val', 'test')) -> dict:
        found = {}
        for split in which:
            loop = getattr(runner, f'_{split}_loop', None)
            if isinstance(loop, BaseLoop):
                found[split] = list(_leaf_datasets(loop.dataloader.dataset))
        return found

    def before_run(self, runner) -> None:
        """Check the data and wrap the pipelines of the built loops."""
        built = self._built_datasets(runner)
        if 'train' in built:
            if self.check_empty_folders:
                for split in ('train', 'val'):
                    for dataset in built.get(split, []):
                        self._check_empty_folders(split, dataset)
            if self.check_classes and 'val' in built:
                self._check_same_classes(built['train'], built['val'])
        if self.name_failing_files:
            for datasets in built.values():
                for dataset in datasets:
                    pipeline = getattr(dataset, 'pipeline', None)
                    if pipeline is not None and not isinstance(
                            pipeline, FileNamingPipeline):
                        dataset.pipeline = FileNamingPipeline(pipeline)

    @staticmethod
    def _check_empty_folders(split: str, dataset) -> None:
        root = _class_folder_root(dataset)
        if root is None:
            return
        folders = _empty_class_folders(dataset, root)
        if folders:
            raise DatasetMismatchError(
                f'The {split} set has empty class folders: {folders}. Every '
                'sub-folder of an image-folder data set is a class, so an '
                'empty one shifts the labels: add images to it or remove '
                'it (in every split).')

    @staticmethod
    def _check_same_classes(train_sets, val_sets) -> None:
        train, val = train_sets[0], val_sets[0]
        train_classes, val_classes = _classes(train), _classes(val)
        if train_classes is None or val_classes is None or \
                train_classes == val_classes:
            return
        only_train = [c for c in train_classes if c not in val_classes]
        only_val = [c for c in val_classes if c not in train_classes]
        train_root, val_root = _class_folder_root(train), _class_folder_root(
            val)
        if train_root is not None and val_root is not None:
            detail = (
                f'class folders only in {train_root!r}: '
                f'{[osp.join(train_root, c) for c in only_train]}; only in '
                f'{val_root!r}: {[osp.join(val_root, c) for c in only_val]}')
            fix = ('give both splits the same class folders (an empty '
                   'class is not allowed either)')
        else:
            detail = (f'only in train: {only_train}, only in val: '
                      f'{only_val}' if only_train or only_val else
                      f'same classes in another order: train '
                      f'{list(train_classes)}, val {list(val_classes)}')
            fix = ('set the same metainfo=dict(classes=...) on both data '
                   'sets')
        raise DatasetMismatchError(
            'The train and val sets list different classes, so their labels '
            f'do not mean the same classes ({detail}). Fix: {fix}.')
