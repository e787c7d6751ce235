# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Evaluation metrics, registered in mmdet's ``METRICS`` (they need mmdet)."""
from .metrics import CrossCameraReIDMetric

__all__ = ['CrossCameraReIDMetric']
