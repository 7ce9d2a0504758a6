"""Training: one leakage-checked, deterministic, resumable job per (experiment, seed, fold)."""

from mer.training.loop import train_fold

__all__ = ["train_fold"]
