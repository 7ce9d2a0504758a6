"""MA2MI / MIACNet (Li, Niu, Zhao, arXiv 2405.16451): the `miacnet` method and its network.

Importing the package registers the method; the pre-training on macro-expression videos lives
in `mer.pretraining.ma2mi`. See docs/method-ma2mi.md.
"""

from mer.methods.ma2mi.method import MIACNetMethod
from mer.methods.ma2mi.network import FrameDecoder, MIACEncoder, MIACNet

__all__ = ["FrameDecoder", "MIACEncoder", "MIACNet", "MIACNetMethod"]
