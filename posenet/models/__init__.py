"""MobileNetV1 PoseNet models (TF.js variants) and their checkpoints."""

from posenet.models import pretrained
from posenet.models.checkpoint import checkpoint_variant, load_checkpoint, load_model, save_checkpoint, save_torch_atomic
from posenet.models.mobilenet import (HEADS, VARIANTS, PoseNet, PoseNetOutput, Variant, create_model, get_variant,
                                      max_output_stride, reachable_strides)

__all__ = ["HEADS", "checkpoint_variant", "pretrained", "VARIANTS", "PoseNet", "PoseNetOutput", "Variant", "create_model", "get_variant",
           "load_checkpoint", "load_model", "max_output_stride", "reachable_strides", "save_checkpoint",
           "save_torch_atomic"]
