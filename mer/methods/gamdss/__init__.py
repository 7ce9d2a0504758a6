"""GAMDSS (Liu et al., arXiv 2603.04766): the shared-parameter rise/fall spatio-temporal network.

Importing the package registers the `gamdss` training method (mer.methods.gamdss.method).
Keyframe reselection (the paper's Algorithm 1) lives in mer.preprocess.keyframes; the
difference-frame and onset-frame inputs in mer.training.inputs.
"""

from mer.methods.gamdss import method as _method  # noqa: F401  (registers "gamdss")
