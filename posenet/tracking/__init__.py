"""Pose tracking across video frames: trackers (keypoint OKS, box IoU) and the One Euro filter."""
