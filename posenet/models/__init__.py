"""MobileNetV1 PoseNet models, one-way like timm's chain: variants (tables) -> mobilenet (network) -> checkpoint
(file I/O) -> factory (``load_model``, pretrained weights on first use, which checkpoint serves)."""
