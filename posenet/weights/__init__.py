"""Pretrained weights: TF.js formats (tfjs), sources (google / npm / local / auto, verified), the tensor layout
conversion to PyTorch (convert) and a fetched folder -> checkpoint (folder)."""
