"""Quality control of preprocessing: crops, detection fallbacks, keyframe moves, motion curves."""

from mer.qc.report import build_qc

__all__ = ["build_qc"]
