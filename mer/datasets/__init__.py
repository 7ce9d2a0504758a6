"""Corpora: registry of dataset facts, label schemes, pre-flight validation and the manifest.

Each corpus module registers its `DatasetInfo` when imported; adding a corpus means adding
a module and importing it below (and a layout twin in `mer.synth.twins`). See docs/datasets.md for what each corpus expects on disk.
"""

from mer.datasets import casme, casme2, casme3, casme_sq, fourdme, mmew, samm, smic  # noqa: F401  (register corpora)
from mer.datasets.annotation import UnknownAnnotationWarning
from mer.datasets.composite import build_composite
from mer.datasets.manifest import MANIFEST_COLUMNS, build_manifest, list_subjects, read_manifest, write_manifest
from mer.datasets.problems import DatasetValidationError, Problem
from mer.datasets.registry import AnnotationVersion, DatasetInfo, get, names
from mer.datasets.schemes import LabelScheme
from mer.datasets.validation import validate

__all__ = [
    "MANIFEST_COLUMNS",
    "AnnotationVersion",
    "DatasetInfo",
    "DatasetValidationError",
    "LabelScheme",
    "Problem",
    "UnknownAnnotationWarning",
    "build_composite",
    "build_manifest",
    "get",
    "list_subjects",
    "names",
    "read_manifest",
    "validate",
    "write_manifest",
]
