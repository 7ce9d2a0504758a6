"""Optical flow between keyframes, optical strain, and their per-subject HDF5 cache."""
