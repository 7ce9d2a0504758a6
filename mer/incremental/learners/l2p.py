"""L2P, Learning to Prompt (Wang et al., CVPR 2022), on a frozen pretrained transformer.

A pool of `pool_size` prompts of `prompt_length` tokens, each with a learnable key. The query
is the pre-logit feature of the frozen backbone without prompts ([CLS] for a ViT); the
`top_k` keys most similar to it (cosine) pick the prompts, which are prepended to the
embedded patches; the classifier reads the mean of the prompt tokens' outputs. The surrogate
loss pulls the chosen keys towards their queries (`pull_coefficient`, 0.1). During training
the selection can be batch-wise (`batchwise`, PILOT's and IMER's setting: the top_k prompts
chosen most often in the batch serve every sample); at test time selection is always per
sample, so a sample's scores never depend on the rest of its batch (PILOT applies batch-wise
selection at test time too).

Defaults follow PILOT (`exps/l2p.json`): pool 10, length 5, top-k 5, uniform initialisation,
Adam lr 0.001875, batch 16, constant lr, 5 epochs every session (`preset: pilot`). IMER's
schedule (Adam 3e-4, 60 epochs in every session, batch 16) is `preset: imer`; `preset:
config` takes epochs/lr/batch size/weight decay from the LearnerConfig like the other learners.
The head is the configured one (`rch` by default) instead of the original single linear layer.
Backbones: ViT as in the paper; Swin by key/value prompts in the first stage's windows
(mer.incremental.prompts); ResNet raises ConfigError.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mer.errors import ConfigError
from mer.incremental.learner import register_learner
from mer.incremental.prompts import PROMPT_DEFAULTS, Preset, PromptKeys, PromptLearner, uniform_parameter


class L2PPrompts(nn.Module):
    """The prompt pool: (pool, length, token dim) prompts and their keys."""

    def __init__(self, size: int, length: int, token_dim: int, key_dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.keys = PromptKeys(size, key_dim, generator)
        self.values = uniform_parameter((size, length, token_dim), generator)

    def tokens(self, index: torch.Tensor) -> torch.Tensor:
        """(B, k·length, token dim): the chosen prompts of each sample, concatenated."""
        return self.values[index].flatten(1, 2)


@register_learner("l2p")
class L2P(PromptLearner):
    """Learning to Prompt: a keyed prompt pool on a frozen transformer (see module doc)."""

    name = "l2p"
    defaults: dict[str, Any] = {**PROMPT_DEFAULTS, "pool_size": 10, "prompt_length": 5, "top_k": 5, "batchwise": True}
    presets = {"pilot": Preset(epochs=5, lr=0.001875, batch_size=16), "imer": Preset(epochs=60, lr=3e-4, batch_size=16)}

    def build_prompts(self, generator: torch.Generator) -> L2PPrompts:
        size, length, top_k = (self.settings[key] for key in ("pool_size", "prompt_length", "top_k"))
        if length < 1 or not 1 <= top_k <= size:
            raise ConfigError(
                f"l2p: need prompt_length >= 1 and 1 <= top_k <= pool_size, got {length}, {top_k}, {size}"
            )
        return L2PPrompts(size, length, self.backbone.token_dim, self.backbone.feature_dim, generator)

    def _features(self, x: torch.Tensor, batchwise: bool) -> tuple[torch.Tensor, torch.Tensor]:
        selection = self.prompts.keys.select(self.backbone.query(x), self.settings["top_k"], batchwise)
        features = self.backbone.forward_prompted(x, self.prompts.tokens(selection.index))
        return features, selection.chosen_similarity()

    def train_features(self, x: torch.Tensor, y_fine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._features(x, self.settings["batchwise"])

    def test_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x, batchwise=False)[0]
