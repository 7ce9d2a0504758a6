"""Model registry and architectures; importing the package registers every built-in model."""

from mer.models import offapexnet as _offapexnet  # noqa: F401  (registers "offapexnet")
from mer.models import ststnet as _ststnet  # noqa: F401  (registers "ststnet")
from mer.models import timm_backbones as _timm_backbones  # noqa: F401  (registers the timm backbones)
from mer.models.pretrained import load_local_weights
from mer.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "load_local_weights", "register_model"]
