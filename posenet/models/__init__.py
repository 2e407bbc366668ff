"""MobileNetV1 PoseNet models (TF.js variants) and their checkpoints."""

from posenet.models import pretrained
from posenet.models.checkpoint import (
                                       checkpoint_variant,
                                       load_checkpoint,
                                       load_model,
                                       read_checkpoint_file,
                                       save_checkpoint,
                                       save_torch_atomic,
)
from posenet.models.mobilenet import (
                                       HEADS,
                                       VARIANTS,
                                       PoseNet,
                                       PoseNetOutput,
                                       Variant,
                                       create_model,
                                       get_variant,
                                       max_output_stride,
                                       reachable_strides,
)
from posenet.models.pretrained import CHECKPOINTS_DIR, PRETRAINED_DIR, TRAINED_MODEL, pretrained_path

__all__ = ["CHECKPOINTS_DIR", "HEADS", "PRETRAINED_DIR", "TRAINED_MODEL", "VARIANTS", "pretrained_path", "PoseNet",
           "PoseNetOutput", "Variant", "checkpoint_variant", "create_model", "get_variant", "load_checkpoint",
           "load_model", "max_output_stride", "pretrained", "reachable_strides", "read_checkpoint_file",
           "save_checkpoint", "save_torch_atomic"]
