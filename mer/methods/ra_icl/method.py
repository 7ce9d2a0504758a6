"""`ra_icl`: Region-Aware Instance Consistency Learning (CVPR 2026) as a training method.

An epoch visits every instance of every clip (MIR expands one clip into N samples); each
item's Siamese partner is another random instance of the same clip. The online network
classifies the item's instance (L_cls). Unless IRC and MRD are both off, the EMA target network
sees the second, horizontally mirrored (u negated), and its outputs are mirrored back: IRC
aligns the two instances' class activation maps (L_acl), MRD aligns their pixel assignments
to the facial regions (L_align) and their region embeddings (L_c). The loss is
L_cls + λ1·L_acl + λ2·L_align + λ3·L_c; the target follows the online network by EMA after
every optimiser step. Inference uses the online network on each clip's middle instance, or
with `inference: ensemble` the mean class probabilities over all its instances.

Settings (`method_kwargs`, defaults from the paper where it gives them; docs/method-ra-icl.md):
instances (N = 16), sampling (middle), sampling_seed (0), irc (true), mrd (true), tau (0.99),
lambda1, lambda2, lambda3 (0.5), queries (8), dim (64), decoder_layers (1), heads (4),
temperature (0.1), inference (middle), expand (true; false draws one random instance pair per
clip per epoch instead), acl_maps (all: L_acl aligns every class's activation map, as the
flipped attention consistency of Guo et al. that IRC follows; label: only the labelled
class's). The backbone is the experiment's `model` (a timm backbone of `mer.models`,
ResNet-18 in the paper) with its `model_kwargs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from mer.errors import ConfigError
from mer.methods.ra_icl.data import INPUT, InstanceSamples, instance_inputs
from mer.methods.ra_icl.flip import flip_flow, flip_map
from mer.methods.ra_icl.losses import assignment_alignment, attention_alignment, embedding_consistency
from mer.methods.ra_icl.network import Branch, Encoder, RaICLNet, RegionDiscovery
from mer.methods.ra_icl.sampling import STRATEGIES
from mer.models import create_model
from mer.models.timm_backbones import ARCHITECTURES
from mer.training.data import scaling_of
from mer.training.inputs import InputSources, input_names
from mer.training.methods import Batch, LossTerms, Method, register_method

INFERENCE = ("middle", "ensemble")
ACL_MAPS = ("all", "label")  # which class activation maps L_acl aligns
CHUNK = 256  # instances per forward pass in ensemble inference


@dataclass(frozen=True)
class Settings:
    """Ra-ICL's method_kwargs, checked on construction."""

    instances: int = 16
    sampling: str = "middle"
    sampling_seed: int = 0
    irc: bool = True
    mrd: bool = True
    tau: float = 0.99
    lambda1: float = 0.5
    lambda2: float = 0.5
    lambda3: float = 0.5
    queries: int = 8
    dim: int = 64
    decoder_layers: int = 1
    heads: int = 4
    temperature: float = 0.1
    inference: str = "middle"
    expand: bool = True
    acl_maps: str = "all"

    def __post_init__(self) -> None:
        checks = {
            "instances": self.instances >= 1,
            "sampling": self.sampling in STRATEGIES,
            "sampling_seed": self.sampling_seed >= 0,
            "irc": isinstance(self.irc, bool),
            "mrd": isinstance(self.mrd, bool),
            "tau": 0 <= self.tau <= 1,
            "lambda1": self.lambda1 >= 0,
            "lambda2": self.lambda2 >= 0,
            "lambda3": self.lambda3 >= 0,
            "queries": self.queries >= 1,
            "dim": self.dim >= 1 and self.heads >= 1 and self.dim % self.heads == 0,
            "decoder_layers": self.decoder_layers >= 1,
            "temperature": self.temperature > 0,
            "inference": self.inference in INFERENCE,
            "expand": isinstance(self.expand, bool),
            "acl_maps": self.acl_maps in ACL_MAPS,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ConfigError(
                f"ra_icl method_kwargs out of range: {values} (sampling one of {sorted(STRATEGIES)}, "
                f"inference one of {list(INFERENCE)}, acl_maps one of {list(ACL_MAPS)}, dim divisible by heads)"
            )


def random_pairs(count: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two distinct random slots below each clip's instance `count` (the same slot twice when it has one).

    Drawn on the CPU from torch's global generator, so the stream is the same on every device.
    """
    draws = torch.rand(len(count), dtype=torch.float64)
    count = count.cpu()
    first = (draws * count).long().clamp(max=count - 1)
    return first, random_partner(first, count)


def random_partner(first: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """A random slot below each clip's `count` other than `first` (`first` itself when the clip has one)."""
    draws = torch.rand(len(count), dtype=torch.float64)
    first, count = first.cpu(), count.cpu()
    others = (count - 1).clamp(min=1)
    step = 1 + (draws * others).long().clamp(max=others - 1)
    return torch.where(count > 1, (first + step) % count, first)


@register_method("ra_icl")
class RaICL(Method):
    """Ra-ICL on the flow cache's instance sets (params `input: instance_flows`)."""

    def __init__(self, **kwargs: Any) -> None:
        try:
            self.settings = Settings(**kwargs)
        except TypeError as error:
            raise ConfigError(f"ra_icl method_kwargs: {error}") from None

    def inputs(self, rows: pd.DataFrame, experiment: dict[str, Any], sources: InputSources) -> Batch:
        if input_names(experiment) != [INPUT]:
            raise ConfigError(f"method ra_icl reads input {INPUT!r}, not {experiment['input']!r}")
        s = self.settings
        return instance_inputs(
            rows, experiment["input_size"], s.sampling, s.instances, s.sampling_seed, sources, scaling_of(experiment)
        )

    def training_set(self, inputs: Batch, targets: torch.Tensor) -> tuple[list[str], Dataset]:
        """With `expand` (the paper's MIR), one item per instance of every clip; else one per clip."""
        if not self.settings.expand:
            return super().training_set(inputs, targets)
        return InstanceSamples.KEYS, InstanceSamples(inputs, targets)

    def build(self, experiment: dict[str, Any], num_classes: int, inputs: Batch) -> nn.Module:
        name = experiment["model"]
        if name not in ARCHITECTURES:
            raise ConfigError(f"method ra_icl needs a timm backbone ({', '.join(sorted(ARCHITECTURES))}), not {name!r}")
        backbone = create_model(
            name,
            num_classes=0,
            in_chans=inputs["instances"].shape[2],
            input_size=experiment["input_size"],
            **experiment.get("model_kwargs", {}),
        )
        s = self.settings
        channels = backbone.num_features
        regions = (
            RegionDiscovery(channels, s.dim, s.queries, s.decoder_layers, s.heads, s.temperature) if s.mrd else None
        )
        return RaICLNet(Branch(Encoder(backbone, channels, num_classes), regions), siamese=s.irc or s.mrd)

    def loss_terms(self, model: nn.Module, batch: Batch, targets: torch.Tensor) -> LossTerms:
        """L_cls and, when on, λ1·L_acl (IRC), λ2·L_align and λ3·L_c (MRD), by name."""
        instances, s = batch["instances"], self.settings
        rows = torch.arange(len(instances), device=instances.device)
        if "slot" in batch:  # expanded epoch: each item is one instance of its clip (MIR's N samples)
            first, second = batch["slot"], random_partner(batch["slot"], batch["count"]).to(instances.device)
        else:
            first, second = (slots.to(instances.device) for slots in random_pairs(batch["count"]))
        online = model.online
        features = online.encoder.features(instances[rows, first])
        terms = {"cls": F.cross_entropy(online.encoder.classify(features), targets)}
        if model.target is None:
            return terms
        target = model.target
        with torch.no_grad():
            target_features = target.encoder.features(flip_flow(instances[rows, second]))
        if s.irc:
            with torch.no_grad():
                target_cam = flip_map(target.encoder.cam(target_features))
            online_cam = online.encoder.cam(features)
            if s.acl_maps == "label":
                online_cam, target_cam = online_cam[rows, targets], target_cam[rows, targets]
            terms["acl"] = s.lambda1 * attention_alignment(online_cam, target_cam)
        if s.mrd:
            online_regions = online.regions(features)
            with torch.no_grad():
                target_regions = target.regions(target_features)
            terms["align"] = s.lambda2 * assignment_alignment(
                online_regions.log_assign, flip_map(target_regions.assign)
            )
            terms["c"] = s.lambda3 * embedding_consistency(online_regions.embeddings, target_regions.embeddings)
        return terms

    def after_step(self, model: nn.Module) -> None:
        if model.target is not None:
            model.update_target(self.settings.tau)

    def logits(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        instances, count = batch["instances"], batch["count"]
        if self.settings.inference == "middle":
            return model(instances[torch.arange(len(instances), device=instances.device), batch["middle"]])
        valid = torch.arange(instances.shape[1], device=instances.device) < count.unsqueeze(1)
        scores = torch.cat([model(chunk) for chunk in instances[valid].split(CHUNK)])
        probabilities = scores.new_zeros(*valid.shape, scores.shape[1])
        probabilities[valid] = scores.softmax(dim=1)
        return (probabilities.sum(dim=1) / count.unsqueeze(1)).log()
