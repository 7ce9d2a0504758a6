"""Model keywords an architecture accepts but would silently ignore: refused when params are parsed.

timm's ResNet takes `stem_width` but builds its default single 7×7 stem with 64 channels
whatever the value; only the `deep*` stems read it. A params file that sets it without such a
stem would describe a network that is not the one trained, so it is a ConfigError naming the
key. The rules live here, free of torch, so `mer.config.validate` can apply them when the
workflow is parsed; tests/test_models.py builds each rule's model both ways to tie the rule to
what the library really does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mer.errors import ConfigError


@dataclass(frozen=True)
class IgnoredKeyword:
    """`key` has an effect only when `honoured(kwargs)` holds; `hint` says how to make it so."""

    key: str
    honoured: Callable[[dict[str, Any]], bool]
    hint: str


def _deep_stem(kwargs: dict[str, Any]) -> bool:
    return "deep" in str(kwargs.get("stem_type", ""))


RESNET_RULES = (
    IgnoredKeyword(
        "stem_width",
        _deep_stem,
        "timm's default ResNet stem is a 64-channel 7×7 convolution that ignores it; "
        "set stem_type: deep (three 3×3 convolutions of stem_width, stem_width, 2·stem_width channels) "
        "or remove stem_width",
    ),
)
RULES: dict[str, tuple[IgnoredKeyword, ...]] = {"resnet18": RESNET_RULES, "resnet152": RESNET_RULES}


def check_model_kwargs(model: str, kwargs: dict[str, Any], where: str) -> None:
    """Raise ConfigError naming `where`.<key> for a keyword `model` would ignore under `kwargs`."""
    for rule in RULES.get(model, ()):
        if rule.key in kwargs and not rule.honoured(kwargs):
            raise ConfigError(f"{where}.{rule.key}: model {model!r} would ignore it: {rule.hint}")
