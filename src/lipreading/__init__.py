"""Visual speech recognition: Hydra + PyTorch Lightning experiments."""
