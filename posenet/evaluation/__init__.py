"""Evaluation: COCO keypoint AP, the speed benchmark, tracking metrics."""
