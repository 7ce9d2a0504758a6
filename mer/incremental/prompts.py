"""Prompt machinery for L2P and DualPrompt on frozen timm transformers (reference/incremental.md §7.1).

Four pieces, each small:

* `PromptKeys` — a pool of learnable keys; the frozen backbone's own pre-logit feature is the
  query, the pool answers the top-k keys by cosine similarity (optionally the same k for the
  whole batch, L2P's batch-wise selection) and the similarities the surrogate/matching loss pulls on.
* prefix-tuning attention (Li & Liang 2021, as DualPrompt uses it): learnable key and value
  tokens are prepended to a block's keys and values only, so the token count and every
  unprompted computation stay as they are; with an empty prefix a block's output is
  bit-identical to timm's own block.
* `PromptedBackbone` — a frozen timm transformer that can run (a) with prefixes at chosen
  blocks and (b) with L2P's input prompts; adapters are registered per timm model class.
* `PromptLearner` — what L2P and DualPrompt share: the frozen prompted backbone, trainable
  prompts/keys/head, CE over the session's classes plus the key-pull term, schedule presets.

Backbones (a documented decision, docs/imer.md): prompts are defined for attention. timm's
VisionTransformer is supported as in the papers. Swin is supported by prefix-tuning inside
window attention — every window of a sample attends to the same prefix, the relative-position
bias and the shifted-window mask get zero columns for the prefix — and L2P's input prompts,
which cannot be prepended to a windowed token grid, become key/value tokens of every window in
the first stage (projected by each block's own frozen norm and qkv). A ResNet has no attention
and raises ConfigError; IMER itself ships L2P and DualPrompt for ViT only (its exps/ has
l2p.yaml and dualprompt.yaml but no `_resnet`/`_swin` variants).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from timm.layers import Attention
from timm.models.swin_transformer import (
    SwinTransformer,
    SwinTransformerBlock,
    WindowAttention,
    window_partition,
    window_reverse,
)
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from mer.errors import ConfigError
from mer.incremental.backbones import backbone_from_config
from mer.incremental.heads import head_from_config
from mer.incremental.learner import LabelSpace, Learner, LearnerConfig, SessionData
from mer.incremental.memory import memory_from_config
from mer.incremental.training import (
    FIT_DEFAULTS,
    FitSettings,
    derive_seed,
    fit_epochs,
    fit_settings,
    parameter_counts,
    predict,
    read_settings,
    seeded,
    session_epochs,
)

Prefix = tuple[torch.Tensor, torch.Tensor]  # (keys, values), each (B, P, attention dim)


def uniform_parameter(shape: tuple[int, ...], generator: torch.Generator) -> nn.Parameter:
    """A parameter drawn from U(-1, 1), the prompt and key initialiser of L2P/DualPrompt ("uniform")."""
    return nn.Parameter(torch.rand(shape, generator=generator) * 2 - 1)


@dataclass(frozen=True)
class Selection:
    """Which prompts a batch uses and how similar every key is to every query."""

    index: torch.Tensor  # (B, k) long: the chosen pool entries per sample
    similarity: torch.Tensor  # (B, pool size) cosine similarity of each query to each key

    def chosen_similarity(self) -> torch.Tensor:
        """(B,) sum of the chosen keys' similarities, the quantity the pull/matching loss maximises."""
        return self.similarity.gather(1, self.index).sum(dim=1)


class PromptKeys(nn.Module):
    """A pool of learnable keys matched to queries by cosine similarity."""

    def __init__(self, size: int, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.keys = uniform_parameter((size, dim), generator)

    @property
    def size(self) -> int:
        """Number of keys in the pool."""
        return self.keys.shape[0]

    def similarity(self, query: torch.Tensor) -> torch.Tensor:
        """(B, size) cosine similarity between each query and each key."""
        return F.normalize(query, dim=-1) @ F.normalize(self.keys, dim=-1).T

    def select(
        self, query: torch.Tensor, top_k: int, batchwise: bool = False, candidates: int | None = None
    ) -> Selection:
        """The top_k most similar keys per query among the first `candidates` (default: all).

        Batch-wise (L2P's option): the top_k keys chosen most often in the batch, for every
        sample; ties go to the lower pool index, so the choice never depends on sort internals.
        """
        candidates = self.size if candidates is None else candidates
        if not 1 <= top_k <= candidates <= self.size:
            raise ConfigError(f"prompt top_k must be in 1..{candidates} (the keys to choose from), got {top_k}")
        similarity = self.similarity(query)
        index = similarity[:, :candidates].topk(top_k, dim=1).indices
        if batchwise:
            counts = torch.bincount(index.flatten(), minlength=candidates)
            order = torch.sort(-counts, stable=True).indices[:top_k]
            index = order.unsqueeze(0).expand(query.shape[0], -1)
        return Selection(index=index, similarity=similarity)

    def fixed(self, query: torch.Tensor, index: torch.Tensor) -> Selection:
        """Given (B, k) pool entries instead of a search (DualPrompt's train-time prompt mask)."""
        return Selection(index=index, similarity=self.similarity(query))


def _heads(prefix: Prefix, num_heads: int) -> Prefix:
    """(B, P, H*d) keys/values → (B, H, P, d), the layout of timm's q, k, v."""
    keys, values = prefix
    batch, length, width = keys.shape
    return tuple(t.reshape(batch, length, num_heads, width // num_heads).transpose(1, 2) for t in (keys, values))


def vit_attention(attn: Attention, x: torch.Tensor, prefix: Prefix | None) -> torch.Tensor:
    """timm `Attention.forward` with `prefix` keys/values prepended (prefix-tuning)."""
    batch, tokens, _ = x.shape
    gate = attn.gate(x).sigmoid() if attn.gate is not None else None
    qkv = attn.qkv(x).reshape(batch, tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    if prefix is not None:
        prefix_k, prefix_v = _heads(prefix, attn.num_heads)
        k, v = torch.cat([prefix_k, k], dim=2), torch.cat([prefix_v, v], dim=2)
    dropout = attn.attn_drop.p if attn.training else 0.0
    if attn.fused_attn:
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    else:
        x = attn.attn_drop((q * attn.scale @ k.transpose(-2, -1)).softmax(dim=-1)) @ v
    x = attn.norm(x.transpose(1, 2).reshape(batch, tokens, attn.attn_dim))
    if gate is not None:
        x = x * gate
    return attn.proj_drop(attn.proj(x))


def vit_block(block: Block, x: torch.Tensor, prefix: Prefix | None) -> torch.Tensor:
    """timm `Block.forward` with a prefixed attention."""
    x = x + block.drop_path1(block.ls1(vit_attention(block.attn, block.norm1(x), prefix)))
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))


def window_attention(
    attn: WindowAttention, x: torch.Tensor, mask: torch.Tensor | None, prefix: Prefix | None
) -> torch.Tensor:
    """timm `WindowAttention.forward` with `prefix` ((nW*B, P, C) keys/values) prepended in every window.

    The relative-position bias and the shifted-window mask get zero columns for the prefix:
    every query may attend to every prefix token, without a position.
    """
    windows, tokens, _ = x.shape
    qkv = attn.qkv(x).reshape(windows, tokens, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    bias = attn._get_rel_pos_bias()
    if mask is not None:
        num_win = mask.shape[0]
        mask = mask.view(1, num_win, 1, tokens, tokens).expand(windows // num_win, -1, attn.num_heads, -1, -1)
        bias = bias + mask.reshape(-1, attn.num_heads, tokens, tokens)
    if prefix is not None:
        prefix_k, prefix_v = _heads(prefix, attn.num_heads)
        k, v = torch.cat([prefix_k, k], dim=2), torch.cat([prefix_v, v], dim=2)
        bias = F.pad(bias, (prefix_k.shape[2], 0))
    dropout = attn.attn_drop.p if attn.training else 0.0
    if attn.fused_attn:
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
    else:
        x = attn.attn_drop(attn.softmax(q * attn.scale @ k.transpose(-2, -1) + bias)) @ v
    return attn.proj_drop(attn.proj(x.transpose(1, 2).reshape(windows, tokens, -1)))


def swin_block(block: SwinTransformerBlock, x: torch.Tensor, prefix: Prefix | None) -> torch.Tensor:
    """timm `SwinTransformerBlock.forward` (shift, pad, window partition) with a prefixed window attention.

    `prefix` is per sample ((B, P, C) keys/values); each of a sample's windows gets the same one.
    """
    batch, height, width, channels = x.shape
    shift = tuple(block.shift_size)
    shifted = block.norm1(x)
    if any(shift):
        shifted = torch.roll(shifted, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    pad_h = (block.window_size[0] - height % block.window_size[0]) % block.window_size[0]
    pad_w = (block.window_size[1] - width % block.window_size[1]) % block.window_size[1]
    shifted = F.pad(shifted, (0, 0, 0, pad_w, 0, pad_h))
    padded_h, padded_w = shifted.shape[1:3]
    windows = window_partition(shifted, block.window_size).view(-1, block.window_area, channels)
    if prefix is not None:
        per_sample = windows.shape[0] // batch  # window_partition is sample-major
        prefix = tuple(t.repeat_interleave(per_sample, dim=0) for t in prefix)
    mask = block.get_attn_mask(shifted) if getattr(block, "dynamic_mask", False) else block.attn_mask
    out = window_attention(block.attn, windows, mask, prefix)
    out = window_reverse(out.view(-1, *block.window_size, channels), block.window_size, padded_h, padded_w)
    out = out[:, :height, :width, :]
    if any(shift):
        out = torch.roll(out, shifts=shift, dims=(1, 2))
    x = x + block.drop_path1(out)
    x = x.reshape(batch, -1, channels)
    x = x + block.drop_path2(block.mlp(block.norm2(x)))
    return x.reshape(batch, height, width, channels)


class PromptedBackbone(nn.Module, ABC):
    """A frozen timm transformer that runs with prefixes at chosen blocks, or with L2P's input prompts.

    The backbone never trains: its parameters are frozen and it stays in eval mode (no dropout,
    no drop-path), so the same module serves as the prompt-free query function and as the
    prompted feature extractor.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> PromptedBackbone:
        """Keep the frozen backbone in eval mode whatever the caller asks."""
        super().train(mode)
        self.model.eval()
        return self

    @property
    @abstractmethod
    def layer_dims(self) -> tuple[int, ...]:
        """Attention width of every block, in forward order (the layer indices prompts name)."""

    @property
    @abstractmethod
    def token_dim(self) -> int:
        """Width of L2P's input prompt tokens."""

    @property
    def feature_dim(self) -> int:
        """Width of the pre-logit feature (the query and the classifier input)."""
        return self.model.num_features

    @torch.no_grad()
    def query(self, x: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) pre-logit feature of the prompt-free backbone ([CLS] for a timm ViT)."""
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    @abstractmethod
    def forward_prefixed(self, x: torch.Tensor, prefixes: Mapping[int, Prefix]) -> torch.Tensor:
        """(B, feature_dim) pre-logit feature with `prefixes[i]` prepended to block i's keys/values."""

    @abstractmethod
    def forward_prompted(self, x: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) L2P feature with (B, T, token_dim) input prompts."""

    def check_layers(self, layers: tuple[int, ...], what: str) -> None:
        """ConfigError unless every index names a block of this backbone."""
        bad = [i for i in layers if not 0 <= i < len(self.layer_dims)]
        if bad:
            last = len(self.layer_dims) - 1
            raise ConfigError(f"{what} layers {bad} do not exist: the backbone has blocks 0..{last}")


_ADAPTERS: dict[type[nn.Module], type[PromptedBackbone]] = {}


def register_adapter(model_class: type[nn.Module]) -> Callable[[type[PromptedBackbone]], type[PromptedBackbone]]:
    """Class decorator: `adapter` runs prompts on timm models of exactly `model_class`."""

    def register(adapter: type[PromptedBackbone]) -> type[PromptedBackbone]:
        _ADAPTERS[model_class] = adapter
        return adapter

    return register


def prompted_backbone(model: nn.Module, learner: str) -> PromptedBackbone:
    """Wrap a timm model for prompting; ConfigError for a model class without attention blocks."""
    try:
        adapter = _ADAPTERS[type(model)]
    except KeyError:
        known = ", ".join(sorted(cls.__name__ for cls in _ADAPTERS))
        raise ConfigError(
            f"{learner} prompts a transformer's attention; backbone {type(model).__name__} has none "
            f"(supported: {known}; IMER runs prompt methods on ViT only)"
        ) from None
    return adapter(model)


def _require(blocks: list[nn.Module], block_type: type[nn.Module], attn_type: type[nn.Module]) -> None:
    """ConfigError unless every block is exactly timm's standard block with its standard attention."""
    for i, block in enumerate(blocks):
        if type(block) is not block_type or type(block.attn) is not attn_type:
            raise ConfigError(
                f"block {i} is {type(block).__name__}/{type(block.attn).__name__}; prompting needs timm's "
                f"{block_type.__name__}/{attn_type.__name__}"
            )


@register_adapter(VisionTransformer)
class PromptedViT(PromptedBackbone):
    """timm VisionTransformer: L2P prompts are prepended after the [CLS] token, prefixes go to any block."""

    def __init__(self, model: VisionTransformer) -> None:
        super().__init__(model)
        _require(list(model.blocks), Block, Attention)

    @property
    def layer_dims(self) -> tuple[int, ...]:
        return (self.model.embed_dim,) * len(self.model.blocks)

    @property
    def token_dim(self) -> int:
        return self.model.embed_dim

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with [CLS] and positional embeddings, before `norm_pre` (timm's forward_features)."""
        return self.model.patch_drop(self.model._pos_embed(self.model.patch_embed(x)))

    def forward_prefixed(self, x: torch.Tensor, prefixes: Mapping[int, Prefix]) -> torch.Tensor:
        x = self.model.norm_pre(self._embed(x))
        for i, block in enumerate(self.model.blocks):
            x = vit_block(block, x, prefixes.get(i))
        return self.model.forward_head(self.model.norm(x), pre_logits=True)

    def forward_prompted(self, x: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """L2P: [CLS, prompts, patches] through the frozen blocks; the feature is the prompt outputs' mean.

        Prompts are inserted after the positional embedding, so they carry none (L2P prepends
        them to the embedded patches).
        """
        x = self._embed(x)
        start = self.model.num_prefix_tokens
        x = torch.cat([x[:, :start], prompts, x[:, start:]], dim=1)
        x = self.model.norm(self.model.blocks(self.model.norm_pre(x)))
        feature = x[:, start : start + prompts.shape[1]].mean(dim=1)
        return self.model.head_drop(self.model.fc_norm(feature))


@register_adapter(SwinTransformer)
class PromptedSwin(PromptedBackbone):
    """timm SwinTransformer: prefixes inside window attention; blocks are numbered across stages."""

    def __init__(self, model: SwinTransformer) -> None:
        super().__init__(model)
        _require(self._blocks(), SwinTransformerBlock, WindowAttention)

    def _blocks(self) -> list[SwinTransformerBlock]:
        return [block for stage in self.model.layers for block in stage.blocks]

    @property
    def layer_dims(self) -> tuple[int, ...]:
        return tuple(block.dim for block in self._blocks())

    @property
    def token_dim(self) -> int:
        return self.layer_dims[0]

    def forward_prefixed(self, x: torch.Tensor, prefixes: Mapping[int, Prefix]) -> torch.Tensor:
        x = self.model.patch_embed(x)
        i = 0
        for stage in self.model.layers:
            x = stage.downsample(x)
            for block in stage.blocks:
                x = swin_block(block, x, prefixes.get(i))
                i += 1
        return self.model.forward_head(self.model.norm(x), pre_logits=True)

    def forward_prompted(self, x: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """L2P on Swin: the prompts are key/value tokens of every window of every first-stage block.

        Each block projects them with its own frozen norm1 and qkv, as it would its own tokens;
        they are not updated between blocks and the feature is the model's pooled output.
        """
        prefixes = {}
        for i, block in enumerate(self.model.layers[0].blocks):
            _, keys, values = block.attn.qkv(block.norm1(prompts)).chunk(3, dim=-1)
            prefixes[i] = (keys, values)
        return self.forward_prefixed(x, prefixes)


@dataclass(frozen=True)
class Preset:
    """The schedule of an original implementation: Adam, constant lr, the same epochs in every session."""

    epochs: int
    lr: float
    batch_size: int


# Settings every prompt learner reads (LearnerConfig.settings), over training.FIT_DEFAULTS.
PROMPT_DEFAULTS: dict[str, Any] = {
    **FIT_DEFAULTS,
    "optimizer": "adam",  # PILOT and IMER
    "schedule": "constant",  # PILOT and IMER
    "preset": "pilot",  # a key of the learner's presets, or "config" for LearnerConfig's epochs/lr/batch size
    "pull_coefficient": 0.1,  # weight of the key-pull (L2P surrogate / DualPrompt matching) term
    "memory_policy": "herding",  # exemplar selection when LearnerConfig.memory > 0
}


class PromptLearner(Learner):
    """L2P/DualPrompt frame: a frozen prompted backbone; prompts, keys and head learn; the backbone never does.

    Loss per batch: CE over the outputs of the classes present in the training data (PILOT
    masks the logits of earlier tasks' classes; with the RCH head these are exactly the
    session's own fine classes) minus `pull_coefficient` × the mean similarity of the chosen
    keys to their queries. With LearnerConfig.memory > 0 exemplars join the training data
    (L2P-R style replay); exemplars are chosen by herding on the frozen query features.
    """

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    presets: ClassVar[dict[str, Preset]]

    def __init__(self, config: LearnerConfig, labels: LabelSpace) -> None:
        super().__init__(config, labels)
        self.settings = read_settings(config, self.defaults, self.name)
        if self.settings["preset"] != "config" and self.settings["preset"] not in self.presets:
            known = ", ".join(["config", *sorted(self.presets)])
            raise ConfigError(f"{self.name}: unknown preset {self.settings['preset']!r}; known: {known}")
        self.device = torch.device(config.device)
        with seeded(derive_seed(config.seed, "init")):
            backbone = backbone_from_config(config)
            self.head = head_from_config(config, labels, backbone.dim)
        self.backbone = prompted_backbone(backbone.extractor, self.name)
        self.weights = backbone.weights
        self.prompts = self.build_prompts(torch.Generator().manual_seed(derive_seed(config.seed, "prompts")))
        self.backbone.to(self.device)
        self.prompts.to(self.device)
        self.head.to(self.device)
        self.memory = memory_from_config(config, self.settings["memory_policy"])
        self.sessions = 0

    @abstractmethod
    def build_prompts(self, generator: torch.Generator) -> nn.Module:
        """The learner's prompts and keys (uniform initialisation from `generator`); validates settings."""

    @abstractmethod
    def train_features(self, x: torch.Tensor, y_fine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, (B,) similarity of the chosen keys to the query) with the training-time selection."""

    @abstractmethod
    def test_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features with the test-time selection: by key similarity only, per sample."""

    def before_session(self, session: SessionData) -> None:
        """Prepare the prompts for a new session (nothing by default)."""

    def session_fit(self, first: bool) -> FitSettings:
        """The preset's schedule, or LearnerConfig's with preset "config"."""
        if self.settings["preset"] == "config":
            return fit_settings(self.config, self.settings, session_epochs(self.config, first))
        preset = self.presets[self.settings["preset"]]
        return FitSettings(
            epochs=preset.epochs,
            batch_size=preset.batch_size,
            lr=preset.lr,
            weight_decay=0.0,
            optimizer=self.settings["optimizer"],
            momentum=float(self.settings["momentum"]),
            schedule=self.settings["schedule"],
            min_lr=float(self.settings["min_lr"]),
        )

    def learn(self, session: SessionData) -> None:
        """Grow the head, then train prompts, keys and head on the session (and exemplars)."""
        with seeded(derive_seed(self.config.seed, session.index, "grow")):
            self.head.grow(session)
        self.before_session(session)
        x, y_fine, y_global = self.memory.training_data(session)
        targets = self.head.targets(y_fine, y_global, dataset=session.dataset)
        outputs = torch.unique(targets)
        position = torch.full((self.head.n_outputs,), -1, dtype=torch.long)
        position[outputs] = torch.arange(outputs.numel())
        columns = outputs.to(self.device)
        pull = float(self.settings["pull_coefficient"])

        def loss(xb: torch.Tensor, fine: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            features, similarity = self.train_features(xb, fine)
            return F.cross_entropy(self.head(features)[:, columns], yb) - pull * similarity.mean()

        fit_epochs(
            loss,
            [*self.prompts.parameters(), *self.head.parameters()],
            [x, y_fine, position[targets]],
            self.session_fit(self.sessions == 0),
            seed=derive_seed(self.config.seed, session.index, "fit"),
            device=self.device,
            train=[self.prompts, self.head],
        )
        self.memory.update(session, self._queries, derive_seed(self.config.seed, session.index, "memory"))
        self.sessions += 1

    def _queries(self, x: torch.Tensor) -> torch.Tensor:
        return predict(self.backbone.query, x, self.device, self.config.batch_size)

    def global_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Head logits on the test-time prompted features, remapped to global emotions (-inf where unseen)."""
        return predict(lambda xb: self.head.to_global(self.head(self.test_features(xb))), x, self.device)

    def parameter_counts(self) -> dict[str, int]:
        """The frozen backbone (counted once: it is also the query function), prompts, keys and head."""
        return parameter_counts(self.backbone, self.prompts, self.head)
