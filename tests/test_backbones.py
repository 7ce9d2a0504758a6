"""Off-ApexNet-style network and timm backbones through the registry; local weights loaded strictly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mer.errors import ConfigError
from mer.models import create_model, list_models, load_local_weights
from mer.models.pretrained import file_sha256, save_weights

TINY = {
    "resnet18": {},
    "convnext_tiny": {"depths": (1, 1, 1, 1), "dims": (8, 16, 24, 32)},
    "vit_base_patch16_224": {"depth": 1, "embed_dim": 16, "num_heads": 2, "patch_size": 8},
    "swin_tiny_patch4_window7_224": {"depths": (1, 1), "num_heads": (1, 2), "embed_dim": 8, "window_size": 4},
}


def test_registry_lists_every_backbone() -> None:
    assert {"ststnet", "offapexnet", *TINY} <= set(list_models())


def test_offapexnet_has_one_stream_per_channel() -> None:
    model = create_model("offapexnet", num_classes=3, in_chans=2, input_size=28)
    assert len(model.streams) == 2 and model.hidden[0].in_features == 2 * 16 * 7 * 7
    assert model(torch.zeros(4, 2, 28, 28)).shape == (4, 3)
    with pytest.raises(ValueError, match="too small"):
        create_model("offapexnet", num_classes=3, in_chans=2, input_size=3)


@pytest.mark.parametrize("name", sorted(TINY))
def test_local_weights_load_strictly_with_head_and_stem_adapted(tmp_path: Path, name: str) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    torch.manual_seed(0)
    source = create_model(name, num_classes=5, in_chans=3, input_size=32, **TINY[name])
    path = tmp_path / "weights.pth"
    sha = save_weights(source, path)
    same = create_model(name, num_classes=5, in_chans=3, input_size=32, **TINY[name])
    info = load_local_weights(same, path)
    assert info["sha256"] == sha == file_sha256(path) and info["reinitialised"] == info["adapted"] == []
    for key, value in source.state_dict().items():
        assert torch.equal(same.state_dict()[key], value), key
    other = create_model(name, num_classes=3, in_chans=6, input_size=32, **TINY[name])
    info = load_local_weights(other, path)
    assert info["reinitialised"] and len(info["adapted"]) == 1
    assert other(torch.zeros(2, 6, 32, 32)).shape == (2, 3)


def test_mismatched_weights_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    save_weights(create_model("resnet18", num_classes=5, in_chans=3, input_size=32), path)
    with pytest.raises(ConfigError, match="does not fit|has shape"):
        other = create_model("convnext_tiny", num_classes=5, in_chans=3, input_size=32, **TINY["convnext_tiny"])
        load_local_weights(other, path)
    state = torch.load(path, weights_only=True)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ConfigError, match="unexpected"):
        load_local_weights(create_model("resnet18", num_classes=5, in_chans=3, input_size=32), path)
