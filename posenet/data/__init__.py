"""Annotation exports (Dataloop, Roboflow COCO / YOLOv8 / legacy boxes, COCO) -> one canonical COCO-keypoints dataset.

``readers.read_export`` parses a local export, ``canonical.to_coco`` builds the canonical dict,
``split.split_dataset`` splits it (train / val / test), ``writer.write_dataset`` writes it; ``fetch`` downloads
exports with the platform SDKs (imported lazily: importing this package has no side effects).
"""
