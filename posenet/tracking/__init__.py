"""Pose tracking across video frames (OKS or IoU similarity, as TF.js pose-detection) and One Euro smoothing.

Imports only the leaf modules (pose, constants); no torch.
"""
