# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
from .cross_camera_reid_metric import CrossCameraReIDMetric

__all__ = ['CrossCameraReIDMetric']
