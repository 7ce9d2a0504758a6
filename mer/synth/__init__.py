"""Synthetic micro-expression corpora in a real corpus's exact on-disk layout, with exact ground truth.

Public API: `generate` (write a corpus), `planned_subjects` (its subject folders, known
without generating) and `displacement_field` (the exact flow between two frames of a clip,
rebuilt from its ground-truth JSON). See docs/synthetic.md.
"""

from mer.synth.field import displacement_field
from mer.synth.registry import PRESETS, generate, planned_subjects

__all__ = ["PRESETS", "displacement_field", "generate", "planned_subjects"]
