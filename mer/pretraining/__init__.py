"""MA2MI pre-training on macro-expression videos (docs/method-ma2mi.md).

`sources` finds and decodes the videos (video files or frame folders), `faces` turns their
frames into square face images, `pairs` draws the (clip, t, δ) training pairs, and `ma2mi`
runs the pre-training and writes the encoder weights. This module itself stays free of heavy
imports: the workflow reads its path templates while parsing.
"""

MACRO_DATASET = "macro"  # the `mer synth` preset name; its corpus lives at paths.MACRO_CORPUS
from mer.paths import PRETRAINED as OUTPUT
from mer.paths import PRETRAINED_VARIANT as VARIANT_OUTPUT
