"""DualPrompt (Wang et al., ECCV 2022): a shared G-prompt and keyed E-prompts, by prefix-tuning a frozen transformer.

The G-prompt (`g_length` tokens at blocks `g_layers`) is shared by every session; the
E-prompts form a pool of `pool_size` entries of `e_length` tokens at blocks `e_layers`, each
with a learnable key. Both act by prefix-tuning: their tokens are prepended to a block's
attention keys and values (a G/E prompt holds separate key and value tokens per block, as
PILOT's `use_prefix_tune_*`). The classifier reads the [CLS] output (PILOT's `head_type:
token`; the pooled output on Swin).

Training (the prompt mask): session t's samples use e-prompts t·k … t·k+k−1 (k = `top_k`)
whatever their keys say, and the matching loss (`pull_coefficient`, 0.1) pulls those keys to
the queries. An exemplar (memory > 0) uses the e-prompts of the session its fine class
belongs to. With `copy_previous` (PILOT's `shared_prompt_pool`) a new session's e-prompts
start from the previous session's. Test: the top-k keys by cosine similarity to the query
pick the e-prompts per sample, among the slots of the sessions learned so far (PILOT ranks
the whole pool, never-trained slots included, and batch-wise).

The pool never overflows: sessions × top_k must fit in `pool_size`, checked when the learner
is built from the label space (ConfigError). IMER's config (pool 10, top-k 5, prompt mask)
asks for e-prompts [5t, 5t+5) in 0-based session t, past the pool from the third session on,
and dies with an IndexError there (reference/incremental.md §7.2). Defaults follow PILOT
(`exps/dual_prompt.json`): pool 10, lengths 5, top-k 1, G at blocks 0–1, E at blocks 2–4,
Adam lr 0.001, batch 24, constant lr, 5 epochs every session (`preset: pilot`); `preset: imer`
is IMER's schedule (Adam 3e-4, 60 epochs in every session, batch 16) with top-k 1 kept;
`preset: config` takes epochs/lr/batch size/weight decay from the LearnerConfig.
Backbones: ViT as in the paper, Swin by prefixes in window attention (mer.incremental.prompts);
ResNet raises ConfigError.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mer.errors import ConfigError
from mer.incremental.learner import SessionData, register_learner
from mer.incremental.prompts import PROMPT_DEFAULTS, Prefix, Preset, PromptKeys, PromptLearner, uniform_parameter


class DualPromptPrompts(nn.Module):
    """G-prompts (2, g_length, dim) per G block; E-prompts (pool, 2, e_length, dim) per E block, and their keys."""

    def __init__(
        self,
        g_layers: dict[int, int],
        e_layers: dict[int, int],
        g_length: int,
        e_length: int,
        size: int,
        key_dim: int,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.g_layers, self.e_layers = tuple(g_layers), tuple(e_layers)
        self.g = nn.ParameterList([uniform_parameter((2, g_length, dim), generator) for dim in g_layers.values()])
        self.keys = PromptKeys(size, key_dim, generator)
        self.e = nn.ParameterList([uniform_parameter((size, 2, e_length, dim), generator) for dim in e_layers.values()])

    def prefixes(self, index: torch.Tensor) -> dict[int, Prefix]:
        """Block → (keys, values): the G-prompt and, per sample, the chosen (B, k) e-prompts concatenated."""
        batch = index.shape[0]
        prefixes = {
            layer: (g[0].expand(batch, -1, -1), g[1].expand(batch, -1, -1)) for layer, g in zip(self.g_layers, self.g)
        }
        for layer, e in zip(self.e_layers, self.e):
            chosen = e[index]  # (B, k, 2, e_length, dim)
            prefixes[layer] = (chosen[:, :, 0].flatten(1, 2), chosen[:, :, 1].flatten(1, 2))
        return prefixes


@register_learner("dualprompt")
class DualPrompt(PromptLearner):
    """DualPrompt: G- and E-prompts by prefix-tuning, e-prompt by session at training and by key at test."""

    name = "dualprompt"
    defaults: dict[str, Any] = {
        **PROMPT_DEFAULTS,
        "pool_size": 10,
        "e_length": 5,
        "g_length": 5,
        "g_layers": [0, 1],
        "e_layers": [2, 3, 4],
        "top_k": 1,
        "copy_previous": True,
    }
    presets = {"pilot": Preset(epochs=5, lr=0.001, batch_size=24), "imer": Preset(epochs=60, lr=3e-4, batch_size=16)}

    def build_prompts(self, generator: torch.Generator) -> DualPromptPrompts:
        settings = self.settings
        g_layers, e_layers = tuple(settings["g_layers"]), tuple(settings["e_layers"])
        if not all(isinstance(i, int) for i in g_layers + e_layers) or not e_layers:
            raise ConfigError(f"dualprompt: g_layers and e_layers (non-empty) must be block indices, got {settings}")
        if set(g_layers) & set(e_layers) or len(set(g_layers + e_layers)) != len(g_layers + e_layers):
            raise ConfigError(f"dualprompt: g_layers {list(g_layers)} and e_layers {list(e_layers)} must not repeat")
        self.backbone.check_layers(g_layers + e_layers, "dualprompt g/e prompt")
        if settings["e_length"] < 1 or (g_layers and settings["g_length"] < 1):
            raise ConfigError("dualprompt: e_length and (with g_layers) g_length must be >= 1")
        self.top_k = settings["top_k"]
        sessions = max(self.labels.fine_session) + 1
        if self.top_k < 1 or sessions * self.top_k > settings["pool_size"]:
            raise ConfigError(
                f"dualprompt: {sessions} sessions × top_k {self.top_k} e-prompts need pool_size >= "
                f"{sessions * self.top_k}, got {settings['pool_size']} (IMER's pool 10 with top-k 5 runs past the "
                "pool in the third session)"
            )
        self.fine_session = torch.tensor(self.labels.fine_session, dtype=torch.long)
        self.slots = self.top_k  # e-prompt slots learned so far (test-time candidates)
        dims = self.backbone.layer_dims
        return DualPromptPrompts(
            {i: dims[i] for i in g_layers},
            {i: dims[i] for i in e_layers},
            settings["g_length"],
            settings["e_length"],
            settings["pool_size"],
            self.backbone.feature_dim,
            generator,
        )

    def _slots(self, sessions: torch.Tensor) -> torch.Tensor:
        """(B, top_k) e-prompt slots of each sample's session: the prompt mask."""
        return sessions.unsqueeze(1) * self.top_k + torch.arange(self.top_k, device=sessions.device)

    def before_session(self, session: SessionData) -> None:
        """Check the session's slots fit the pool; with copy_previous, start them from the previous session's."""
        start, end = session.index * self.top_k, (session.index + 1) * self.top_k
        if end > self.prompts.keys.size:
            raise ConfigError(
                f"dualprompt: session {session.index} needs e-prompts {start}..{end - 1}, beyond the pool"
            )
        if self.settings["copy_previous"] and session.index > 0:
            with torch.no_grad():
                for e in self.prompts.e:
                    e[start:end] = e[start - self.top_k : start]
        self.slots = max(self.slots, end)

    def _features(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_prefixed(x, self.prompts.prefixes(index))

    def train_features(self, x: torch.Tensor, y_fine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sessions = self.fine_session.to(y_fine.device)[y_fine]
        selection = self.prompts.keys.fixed(self.backbone.query(x), self._slots(sessions))
        return self._features(x, selection.index), selection.chosen_similarity()

    def test_selection(self, x: torch.Tensor) -> torch.Tensor:
        """(B, top_k) e-prompt slots chosen by key similarity among the learned slots (never by session id)."""
        return self.prompts.keys.select(self.backbone.query(x), self.top_k, candidates=self.slots).index

    def test_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x, self.test_selection(x))
