"""Quality control: preprocessing (crops, fallbacks, keyframe moves, motion curves); flow colours in `mer.qc.flow`."""

from mer.qc.report import build_qc

__all__ = ["build_qc"]
