"""GAMDSS method: the retention decay, branch and variant shapes, Eq. 12, parameter sharing,
backbone swaps, the onset-frame input, and deterministic end-to-end fold jobs."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mer.errors import ConfigError
from mer.methods.gamdss.method import GamdssMethod
from mer.methods.gamdss.network import build_network
from mer.methods.gamdss.retention import ManhattanRetention, axis_decay, decay_rates, manhattan_decay
from mer.methods.gamdss.spatial import SpatialBranch
from mer.models import create_model
from mer.models.pretrained import save_weights
from mer.protocols import loso_folds
from mer.training import InputSources, train_fold
from mer.training.data import load_inputs
from mer.training.methods import create_method
from tests.test_training import make_corpus
from tests.test_training_options import FACE, add_faces

SIZE = 32
TINY = {"embed_dims": [8, 16, 16, 32], "depths": [1, 1, 1, 1], "num_heads": [2, 2, 2, 2], "projection": 32}
KWARGS = {"backbone_kwargs": TINY, "spatial_heads": 2}
EXPERIMENT = {
    "datasets": ["toy"],
    "protocol": "loso",
    "method": "gamdss",
    "model": "gamdss",
    "input": ["rise_fall_diff", "onset_frame"],
    "input_size": SIZE,
    "epochs": 2,
    "batch_size": 8,
    "lr": 0.001,
    "weight_decay": 0.0,
    "seeds": [0],
    "method_kwargs": KWARGS,
}
TIMM_TINY = {
    "resnet18": {},
    "convnext_tiny": {"depths": [1, 1, 1, 1], "dims": [8, 16, 16, 32]},
    "swin_tiny_patch4_window7_224": {
        "embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1], "window_size": 4
    },
}


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread, as in a fold job: on a shared 2-core machine two threads mostly wait on each other."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _net(backbone: str = "retention", backbone_kwargs: dict | None = None, spatial: bool = True):
    torch.manual_seed(0)
    return build_network(
        num_classes=3,
        input_size=SIZE,
        motion_chans=3,
        onset_chans=3 if spatial else None,
        backbone=backbone,
        backbone_kwargs=TINY if backbone_kwargs is None else backbone_kwargs,
        spatial_depth=2,
        spatial_heads=2,
        spatial_mlp_ratio=4.0,
    )


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {
        "rise_fall_diff": torch.randn(4, 6, SIZE, SIZE, generator=generator),
        "onset_frame": torch.rand(4, 3, SIZE, SIZE, generator=generator),
    }


def _method(**changes) -> GamdssMethod:
    return create_method({**EXPERIMENT, "method_kwargs": {**KWARGS, **changes}})


def _built(**changes) -> tuple[GamdssMethod, torch.nn.Module]:
    method = _method(**changes)
    torch.manual_seed(0)
    return method, method.build(EXPERIMENT, 3, _batch())


def test_decay_mask_is_gamma_to_the_manhattan_distance() -> None:
    log_gamma = decay_rates(2, initial_value=2, heads_range=4)
    gammas = [1 - 2 ** (-2 - 4 * h / 2) for h in range(2)]
    assert torch.allclose(log_gamma.exp(), torch.tensor(gammas))
    height, width = 3, 4
    mask = manhattan_decay(height, width, log_gamma).exp()
    assert mask.shape == (2, 12, 12)
    for h, gamma in enumerate(gammas):
        for n in range(12):
            for m in range(12):
                distance = abs(n // width - m // width) + abs(n % width - m % width)
                assert mask[h, n, m].item() == pytest.approx(gamma**distance, rel=1e-5)
    line = axis_decay(5, log_gamma).exp()
    assert line[1, 0, 4].item() == pytest.approx(gammas[1] ** 4, rel=1e-5)


@pytest.mark.parametrize("decomposed", [False, True])
def test_retention_weights_tokens_by_the_decay_when_queries_are_blind(decomposed: bool) -> None:
    """With q = k = 0 the softmax sees only the log-mask: token n averages tokens m with weight ∝ γ^d(n,m);
    the decomposed form (width, then height) gives the same weights, since γ^{|Δx|+|Δy|} factorises."""
    dim, height, width = 4, 3, 4
    layer = ManhattanRetention(dim, num_heads=1, initial_value=1, heads_range=0, decomposed=decomposed)
    with torch.no_grad():
        for linear in (layer.q, layer.k):
            linear.weight.zero_()
        for linear in (layer.v, layer.out):
            linear.weight.copy_(torch.eye(dim))
        for bias in (layer.q.bias, layer.k.bias, layer.v.bias, layer.out.bias, layer.lepe.conv.bias):
            bias.zero_()
        layer.lepe.conv.weight.zero_()
    x = torch.randn(1, height, width, dim, generator=torch.Generator().manual_seed(0))
    weights = manhattan_decay(height, width, layer.log_gamma)[0].exp()
    expected = (weights / weights.sum(dim=1, keepdim=True)) @ x.reshape(height * width, dim)
    assert torch.allclose(layer(x).reshape(height * width, dim), expected, atol=1e-6)


def test_branch_shapes() -> None:
    net = _net()
    motion, onset = torch.randn(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    temporal = net.unit.temporal.features(motion)
    assert temporal.shape == (2, 32, SIZE // 16, SIZE // 16)  # stride 16, last embed dim
    assert net.unit.spatial(onset).shape == temporal.shape  # Eq. 8 sums them element-wise
    assert net.unit.spatial.embed.kernel_size == (16, 16) and net.unit.spatial.position.shape == (1, 4, 32)
    assert len(net.unit.spatial.blocks) == 2
    assert net.unit(motion, net.unit.position(onset)).shape == (2, 3)
    assert _net(spatial=False).unit.spatial is None


@pytest.mark.parametrize(("variant", "phases"), [("rise", {"rise"}), ("fall", {"fall"}), ("full", {"rise", "fall"})])
def test_each_variant_trains_its_phases_and_predicts_one_score_per_class(variant, phases) -> None:
    method, model = _built(variant=variant)
    batch = _batch()
    scores = model(method._motions(batch, method.config.phases), batch["onset_frame"])
    assert set(scores) == phases and all(s.shape == (4, 3) for s in scores.values())
    model.eval()
    assert method.logits(model, batch).shape == (4, 3)


def test_variants_have_the_same_parameters_and_one_unit_serves_both_phases() -> None:
    counts = {v: sum(p.numel() for p in _built(variant=v)[1].parameters()) for v in ("rise", "fall", "full")}
    assert len(set(counts.values())) == 1  # Table II: 12.6 M for rise, fall and full alike
    method, model = _built()
    assert not [name for name, _ in model.named_parameters() if "rise" in name or "fall" in name]
    model.eval()
    x, onset = torch.randn(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    scores = model({"rise": x, "fall": x}, onset)
    assert torch.equal(scores["rise"], scores["fall"])  # the same θ for both phases (Eq. 11)


def test_loss_is_eq12_and_prediction_follows_the_rule() -> None:
    method, model = _built()
    model.eval()  # no stochastic depth, so the terms can be recomputed exactly
    batch, targets = _batch(), torch.tensor([0, 1, 2, 1])
    motions = {"rise": batch["rise_fall_diff"][:, :3], "fall": batch["rise_fall_diff"][:, 3:]}
    scores = model(motions, batch["onset_frame"])
    expected = F.cross_entropy(scores["rise"], targets) + F.cross_entropy(scores["fall"], targets)
    assert torch.allclose(method.loss(model, batch, targets), expected)
    assert torch.equal(method.logits(model, batch), scores["rise"])  # default: the rise head
    summed = _method(prediction="sum")
    assert torch.equal(summed.logits(model, batch), scores["rise"] + scores["fall"])
    rise_only = _method(variant="rise")
    assert torch.allclose(rise_only.loss(model, batch, targets), F.cross_entropy(scores["rise"], targets))


def test_gradient_reaches_both_branches() -> None:
    method, model = _built()
    method.loss(model, _batch(), torch.tensor([0, 1, 2, 1])).backward()
    for branch in (model.unit.temporal, model.unit.spatial):
        grads = [p.grad for p in branch.parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    assert model.unit.spatial.position.grad.abs().sum() > 0


@pytest.mark.parametrize("backbone", sorted(TIMM_TINY))
def test_timm_backbones_take_the_temporal_branch(backbone: str) -> None:
    net = _net(backbone, TIMM_TINY[backbone])
    motion, onset = torch.randn(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    features = net.unit.temporal.features(motion)
    assert net.unit.spatial(onset).shape == features.shape and features.shape[1] == net.unit.temporal.channels
    scores = net({"rise": motion, "fall": motion}, onset)
    assert all(s.shape == (2, 3) for s in scores.values())


def test_pretrained_file_loads_strictly_into_the_temporal_backbone(tmp_path: Path) -> None:
    torch.manual_seed(3)
    weights = tmp_path / "resnet18.pth"
    save_weights(create_model("resnet18", num_classes=7, in_chans=3, input_size=SIZE), weights)
    method, model = _built(backbone="resnet18", backbone_kwargs={})
    record = method.load_pretrained(model, str(weights))
    assert record["reinitialised"] == ["fc.weight", "fc.bias"]
    stored = torch.load(weights, weights_only=True)
    assert torch.equal(model.unit.temporal.net.conv1.weight, stored["conv1.weight"])
    retention_method, retention_model = _built()
    with pytest.raises(ConfigError, match="does not fit|has shape"):
        retention_method.load_pretrained(retention_model, str(weights))  # ResNet weights into the retention net


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method_kwargs": {"variant": "both"}}, "unknown variant"),
        ({"method_kwargs": {"depth": 2}}, "unknown method_kwargs"),
        ({"method_kwargs": {"variant": "rise", "prediction": "sum"}}, "needs the \\['fall'\\] phase"),
        ({"method_kwargs": {"backbone": "vgg"}}, "unknown backbone"),
        ({"method_kwargs": {"backbone_kwargs": {"width": 3}}}, "do not fit backbone"),
        ({"input": ["rise_fall_diff"]}, "reads 'onset_frame'"),
        ({"input": ["rise_diff", "onset_frame"]}, "needs the \\['fall'\\] phase"),
        ({"input": ["rise_fall_diff", "rise_fall_flow", "onset_frame"]}, "one motion input"),
        ({"model": "resnet18"}, "set `model: gamdss`"),
    ],
)
def test_bad_settings_are_config_errors(changes: dict, message: str) -> None:
    experiment = {**EXPERIMENT, **changes}
    with pytest.raises(ConfigError, match=message):
        method = create_method(experiment)
        torch.manual_seed(0)
        method.build(experiment, 3, _batch())


def test_spatial_grid_that_patches_cannot_tile_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot be cut"):
        SpatialBranch(in_chans=3, input_size=10, grid=4, dim=8, depth=2, num_heads=2, mlp_ratio=4.0)


def test_onset_frame_input_is_the_onset_face_crop(tmp_path: Path) -> None:
    manifest = make_corpus(tmp_path)
    sources = add_faces(tmp_path, manifest)
    rows = manifest.iloc[:2]
    onset = load_inputs(rows, "onset_frame", FACE, sources)
    assert onset.shape == (2, 3, FACE, FACE)
    with h5py.File(tmp_path / "faces" / f"{rows.iloc[1]['subject']}.h5") as handle:
        frame = handle[rows.iloc[1]["clip"]]["frames"][0].astype(np.float32).transpose(2, 0, 1)
    assert np.allclose(onset[1].numpy(), frame / frame.max(axis=(1, 2), keepdims=True), atol=1e-6)


@pytest.fixture()
def faces_corpus(tmp_path: Path):
    manifest = make_corpus(tmp_path)
    return tmp_path, manifest, loso_folds(manifest), add_faces(tmp_path, manifest)


def _run(corpus, out: str, **changes) -> Path:
    root, manifest, folds, sources = corpus
    train_fold(manifest, folds, "toy-sub01", {**EXPERIMENT, **changes}, sources, 0, root / out, threads=1, device="cpu")
    return root / out


def test_fold_job_predicts_and_reruns_to_identical_bytes(faces_corpus) -> None:
    first, second = _run(faces_corpus, "a"), _run(faces_corpus, "b")
    predictions = pd.read_csv(first / "predictions.csv", dtype={"subject": str})
    assert len(predictions) == 6 and set(predictions["subject"]) == {"sub01"}
    assert (first / "predictions.csv").read_bytes() == (second / "predictions.csv").read_bytes()
    log = json.loads((first / "log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2] and all(np.isfinite(e["loss"]) for e in log["epochs"])


def test_fold_job_on_flow_without_the_spatial_branch(faces_corpus) -> None:
    """Table VII's flow input and Table IV's S column off: the listed onset frame is not read (no face
    crops are even reachable here), and the job still predicts."""
    root, manifest, folds, sources = faces_corpus
    changes = {"input": ["rise_fall_flow", "onset_frame"], "epochs": 1, "method_kwargs": {**KWARGS, "spatial": False}}
    flow_only = (root, manifest, folds, InputSources(flow=sources.flow))
    assert len(pd.read_csv(_run(flow_only, "flow", **changes) / "predictions.csv")) == 6
