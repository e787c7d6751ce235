# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""CMC rank-k and mAP of person re-identification under the standard
query/gallery protocol of Market-1501."""
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric

DISTANCES = ('euclidean', 'cosine')


def _field(sample: dict, key: str, hint: str):
    if key not in sample:
        raise KeyError(
            f'CrossCameraReIDMetric needs {key!r} in every data sample '
            f'(got keys {sorted(sample)}); {hint}')
    return sample[key]


@METRICS.register_module()
class CrossCameraReIDMetric(BaseMetric):
    """Standard person ReID evaluation: CMC rank-k and mAP over queries.

    The evaluated set holds queries and a gallery, told apart by each data
    sample's ``is_query`` flag (``Market1501Dataset(split='test')``). For each
    query, the gallery is ranked by feature distance (ties keep the gallery's
    order) after removing

    - gallery images of the query's person id taken by the query's camera
      (a match must cross cameras), and
    - junk gallery images (person id in ``junk_pids``, ``-1`` on
      Market-1501); distractors (id ``0``) stay as negatives.

    Queries left without any correct gallery image are not counted. For the
    remaining ones, rank-k is the fraction whose first correct match is
    within the top k, and AP is the mean over the correct matches of the
    precision at their rank (the non-interpolated form used by the common
    Python evaluations; the original MATLAB kit averages consecutive
    precisions, which changes mAP slightly). Results are in percent.

    This differs from mmdet's ``ReIDMetrics``, which ranks every sample
    against all others (no query/gallery split), drops the first-ranked
    item as the query itself, and neither ignores same-camera matches nor
    junk images.

    Each data sample needs ``pred_feature`` (the model's matching feature),
    ``gt_label.label`` (the person id), ``camid`` and ``is_query``; pack the
    last two with ``PackReIDInputs(meta_keys=('camid', 'is_query'))``.

    Args:
        topk (int | Sequence[int]): The ranks k of the reported CMC.
            Defaults to ``(1, 5, 10)``.
        distance (str): ``'euclidean'`` or ``'cosine'`` (one minus cosine
            similarity). Defaults to ``'euclidean'``.
        junk_pids (Sequence[int]): Person ids of gallery images that are
            ignored. Defaults to ``(-1, )``.
        query_chunk (int): Queries whose distances are computed at once
            (memory bound). Defaults to 1024.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results of
            distributed ranks are gathered. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'reid'`` (``reid/mAP``, ``reid/rank-1``, ...).
    """
    default_prefix: Optional[str] = 'reid'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, 5, 10),
                 distance: str = 'euclidean',
                 junk_pids: Sequence[int] = (-1, ),
                 query_chunk: int = 1024,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not topk or any(
                isinstance(k, bool) or not isinstance(k, int) or k < 1
                for k in topk):
            raise ValueError(
                f'topk must be a positive int or a non-empty sequence of '
                f'them, got {topk!r}.')
        if distance not in DISTANCES:
            raise ValueError(
                f'distance must be one of {DISTANCES}, got {distance!r}.')
        if isinstance(query_chunk, bool) or not isinstance(
                query_chunk, int) or query_chunk < 1:
            raise ValueError(
                f'query_chunk must be a positive int, got {query_chunk!r}.')
        self.topk = topk
        self.distance = distance
        self.junk_pids = tuple(int(p) for p in junk_pids)
        self.query_chunk = query_chunk

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's feature, person id, camera and query flag.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs as dicts.
        """
        hint = ("pack them with PackReIDInputs(meta_keys=('camid', "
                "'is_query')) and evaluate Market1501Dataset(split='test').")
        for sample in data_samples:
            feature = _field(sample, 'pred_feature',
                             'the model must set it (a ReID head predict).')
            label = _field(sample, 'gt_label', hint)
            label = label['label'] if isinstance(label, dict) else label
            self.results.append(
                dict(
                    feature=torch.as_tensor(feature).detach().flatten()
                    .float().cpu(),
                    pid=int(torch.as_tensor(label).reshape(-1)[0]),
                    camid=int(_field(sample, 'camid', hint)),
                    is_query=bool(_field(sample, 'is_query', hint))))

    def _distances(self, query: torch.Tensor,
                   gallery: torch.Tensor) -> np.ndarray:
        if self.distance == 'cosine':
            query = torch.nn.functional.normalize(query, dim=1)
            gallery = torch.nn.functional.normalize(gallery, dim=1)
            return (1 - query @ gallery.t()).numpy()
        return torch.cdist(query.double(), gallery.double()).pow(2).numpy()

    def compute_metrics(self, results: list) -> dict:
        """CMC rank-k and mAP, in percent.

        Args:
            results (list): The dicts stored by :meth:`process`.

        Returns:
            dict: ``mAP`` and ``rank-k`` for each k of ``topk``.
        """
        is_query = np.array([r['is_query'] for r in results], dtype=bool)
        if not is_query.any() or is_query.all():
            raise ValueError(
                f'CrossCameraReIDMetric needs both queries and gallery images'
                f' (got {int(is_query.sum())} queries among {len(results)} '
                f"samples); evaluate Market1501Dataset(split='test').")
        features = torch.stack([r['feature'] for r in results])
        pids = np.array([r['pid'] for r in results])
        camids = np.array([r['camid'] for r in results])
        query_idx = np.flatnonzero(is_query)
        gallery_idx = np.flatnonzero(~is_query)
        g_pids, g_camids = pids[gallery_idx], camids[gallery_idx]
        g_junk = np.isin(g_pids, self.junk_pids)
        gallery = features[gallery_idx]

        first_hits, aps = [], []
        for start in range(0, len(query_idx), self.query_chunk):
            chunk = query_idx[start:start + self.query_chunk]
            dist = self._distances(features[chunk], gallery)
            order = np.argsort(dist, axis=1, kind='stable')
            for row, q in enumerate(chunk):
                ranked = order[row]
                keep = ~(g_junk[ranked]
                         | ((g_pids[ranked] == pids[q])
                            & (g_camids[ranked] == camids[q])))
                matches = g_pids[ranked][keep] == pids[q]
                hit_ranks = np.flatnonzero(matches)
                if hit_ranks.size == 0:
                    continue  # the query's id is not in the gallery
                first_hits.append(hit_ranks[0])
                precisions = np.arange(1, hit_ranks.size + 1) / (
                    hit_ranks + 1)
                aps.append(precisions.mean())
        if not aps:
            raise ValueError(
                'no query has a correct gallery image from another camera; '
                'check that the gallery holds the query identities and that '
                'camid is set per image.')
        first_hits = np.asarray(first_hits)
        metrics = dict(mAP=100.0 * float(np.mean(aps)))
        for k in self.topk:
            metrics[f'rank-{k}'] = 100.0 * float(np.mean(first_hits < k))
        return metrics
