"""Model registry and architectures; importing the package registers every built-in model."""

from mer.models import ststnet as _ststnet  # noqa: F401  (registers "ststnet")
from mer.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
