# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
import random

import pytest
import torch

from noah_mm.evaluation import CrossCameraReIDMetric


def sample(feature, pid, camid, is_query):
    """A data sample as the evaluator hands it to the metric."""
    return dict(
        pred_feature=torch.tensor([float(f) for f in feature]),
        gt_label=dict(label=torch.tensor([pid])),
        camid=camid,
        is_query=is_query)


# One-dimensional features: the distance order is read off the number line.
GALLERY = [
    sample([0.5], 1, 0, False),   # g0 same person, same camera as q1
    sample([1.0], -1, 1, False),  # g1 junk
    sample([1.5], 2, 1, False),   # g2
    sample([2.0], 1, 1, False),   # g3
    sample([2.5], 0, 1, False),   # g4 distractor
    sample([3.0], 1, 2, False),   # g5
    sample([10.], 3, 0, False),   # g6 person 3, camera 0 only
]
QUERIES = [
    # q1: raw order g0 g1 g2 g3 g4 g5 g6; without g0 (same camera) and g1
    # (junk): g2 x, g3 ok, g4 x, g5 ok -> first hit at rank 2,
    # AP = (1/2 + 2/4) / 2 = 0.5.
    sample([0.0], 1, 0, True),
    # q2: distances g2 .1, g1 .4, g3 .6, g0 .9, g4 1.1, g5 1.6: g2 first,
    # AP = 1.
    sample([1.4], 2, 0, True),
    # q3: its only gallery image shares its camera: not counted.
    sample([9.0], 3, 0, True),
    # q4: identity absent from the gallery: not counted.
    sample([0.0], 4, 1, True),
]


def evaluate(samples, **kwargs):
    metric = CrossCameraReIDMetric(**kwargs)
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_hand_computed_ranking():
    metrics = evaluate(QUERIES + GALLERY, topk=(1, 2, 5, 10))
    assert metrics == pytest.approx({
        'reid/mAP': 75.0,  # (0.5 + 1) / 2
        'reid/rank-1': 50.0,  # q2 only
        'reid/rank-2': 100.0,
        'reid/rank-5': 100.0,
        'reid/rank-10': 100.0,  # k beyond the 5 kept gallery images
    })


def test_order_of_samples_does_not_matter():
    samples = QUERIES + GALLERY
    random.Random(0).shuffle(samples)
    metrics = evaluate(samples, topk=(1, 2))
    assert metrics == pytest.approx({
        'reid/mAP': 75.0,
        'reid/rank-1': 50.0,
        'reid/rank-2': 100.0
    })


def test_same_camera_match_is_ignored_not_counted_wrong():
    # q1's same-camera twin g0 ranks first; were it kept, rank-1 of q1 would
    # be a hit, were it counted as wrong, AP would drop below 0.5.
    metrics = evaluate([QUERIES[0]] + GALLERY, topk=1)
    assert metrics == pytest.approx({'reid/mAP': 50.0, 'reid/rank-1': 0.0})


def test_junk_is_ignored_and_distractors_are_negatives():
    junk_first = [sample([0.0], 5, 0, True),
                  sample([0.1], -1, 1, False),  # junk: ignored
                  sample([0.2], 0, 1, False),  # distractor: wrong
                  sample([0.3], 5, 1, False)]
    metrics = evaluate(junk_first, topk=(1, 2))
    assert metrics == pytest.approx({
        'reid/mAP': 50.0,
        'reid/rank-1': 0.0,
        'reid/rank-2': 100.0
    })
    # With no junk ids, the -1 image is an ordinary wrong match.
    metrics = evaluate(junk_first, topk=(1, 2), junk_pids=())
    assert metrics == pytest.approx({
        'reid/mAP': 100 / 3,
        'reid/rank-1': 0.0,
        'reid/rank-2': 0.0
    })


def test_cosine_distance_and_chunks():
    # Cosine ignores the norm: the far gallery image of the same direction
    # wins over a near one at an angle.
    samples = [sample([1.0, 0.0], 1, 0, True),
               sample([0.9, 0.5], 2, 1, False),
               sample([5.0, 0.0], 1, 1, False)]
    assert evaluate(samples, topk=1)['reid/rank-1'] == 0.0
    assert evaluate(samples, topk=1, distance='cosine')['reid/rank-1'] == 100.
    chunked = evaluate(QUERIES + GALLERY, query_chunk=1)
    assert chunked == pytest.approx(evaluate(QUERIES + GALLERY))


def test_clear_errors():
    with pytest.raises(ValueError, match='topk'):
        CrossCameraReIDMetric(topk=(0, 1))
    with pytest.raises(ValueError, match='distance'):
        CrossCameraReIDMetric(distance='l1')
    with pytest.raises(ValueError, match='queries'):
        evaluate(GALLERY)
    with pytest.raises(ValueError, match='no query'):
        evaluate([QUERIES[2]] + GALLERY)
    metric = CrossCameraReIDMetric()
    bad = dict(QUERIES[0])
    del bad['camid']
    with pytest.raises(KeyError, match="camid.*PackReIDInputs"):
        metric.process(None, [bad])
