"""Training with the PersonLab loss: dataset, augmentation, targets, losses, the trainer and its parts."""
