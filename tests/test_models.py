"""Model registry and STSTNet."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mer.errors import ConfigError
from mer.model_keywords import check_model_kwargs
from mer.models import create_model, list_models, register_model
from mer.models import registry
from mer.models.ststnet import STSTNet


def test_ststnet_is_registered_and_maps_flow_to_logits() -> None:
    assert "ststnet" in list_models()
    model = create_model("ststnet", num_classes=5, in_chans=3, input_size=28)
    assert isinstance(model, STSTNet)
    assert model(torch.randn(4, 3, 28, 28)).shape == (4, 5)


def test_ststnet_paper_geometry() -> None:
    model = create_model("ststnet", num_classes=3, in_chans=3, input_size=28)
    widths = [stream[0].out_channels for stream in model.streams]
    assert widths == [3, 5, 8]
    assert all(stream[0].kernel_size == (3, 3) for stream in model.streams)
    assert model.classifier.in_features == 16 * 5 * 5
    assert sum(p.numel() for p in model.parameters()) < 3000


@pytest.mark.parametrize(("in_chans", "size"), [(6, 28), (3, 8), (3, 56), (6, 112)])
def test_ststnet_other_inputs(in_chans: int, size: int) -> None:
    model = create_model("ststnet", num_classes=4, in_chans=in_chans, input_size=size)
    assert model(torch.randn(2, in_chans, size, size)).shape == (2, 4)


def test_ststnet_refuses_tiny_inputs() -> None:
    with pytest.raises(ValueError, match="too small"):
        create_model("ststnet", num_classes=3, in_chans=3, input_size=3)
    assert create_model("ststnet", num_classes=3, in_chans=3, input_size=4)(torch.randn(2, 3, 4, 4)).shape == (2, 3)


def test_ststnet_init_is_seeded() -> None:
    torch.manual_seed(0)
    first = create_model("ststnet", num_classes=3, in_chans=3, input_size=28)
    torch.manual_seed(0)
    second = create_model("ststnet", num_classes=3, in_chans=3, input_size=28)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_ststnet_dropout_is_a_keyword() -> None:
    model = create_model("ststnet", num_classes=3, in_chans=3, input_size=28, dropout=0.0)
    assert model.dropout.p == 0.0


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown model 'resnet9'; known models: .*ststnet"):
        create_model("resnet9", num_classes=3, in_chans=3, input_size=28)


def test_register_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))

    @register_model
    def linear_probe(*, num_classes: int, in_chans: int, input_size: int, bias: bool = True) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * input_size**2, num_classes, bias=bias))

    model = create_model("linear_probe", num_classes=2, in_chans=3, input_size=8, bias=False)
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 2)
    assert model[1].bias is None
    with pytest.raises(ValueError, match="already registered"):
        register_model(linear_probe)


def test_ignored_model_keywords_are_refused_and_the_rule_matches_timm() -> None:
    """`stem_width` without a deep stem is what timm ignores; with one, timm honours it."""
    tiny = {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64]}
    ignored = create_model("resnet18", num_classes=2, in_chans=3, input_size=32, **tiny, stem_width=8)
    assert ignored.conv1.out_channels == 64  # timm's fact the rule encodes
    honoured = create_model("resnet18", num_classes=2, in_chans=3, input_size=32, **tiny, stem_type="deep", stem_width=8)
    assert honoured.conv1[0].out_channels == 8
    with pytest.raises(ConfigError, match=r"experiments\.x\.model_kwargs\.stem_width"):
        check_model_kwargs("resnet18", {**tiny, "stem_width": 8}, "experiments.x.model_kwargs")
    check_model_kwargs("resnet18", {**tiny, "stem_type": "deep", "stem_width": 8}, "experiments.x.model_kwargs")
