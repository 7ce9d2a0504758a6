"""Ra-ICL: instance sampling from the flow cache's superset, flow mirroring, CAM alignment, EMA target,
facial-query region discovery, the joint loss and an end-to-end train_fold run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import mer.methods  # noqa: F401  (registers the methods)
from mer import h5
from mer.errors import ConfigError, InputDataError
from mer.flow.cache import flow_subject, instance_frames, load_flow, load_instances, middle_frames
from mer.flow.strain import optical_strain
from mer.methods.ra_icl import RaICL
from mer.methods.ra_icl.data import InstanceSamples, instance_inputs
from mer.methods.ra_icl.flip import flip_flow, flip_map
from mer.methods.ra_icl.losses import attention_alignment
from mer.methods.ra_icl.method import random_pairs, random_partner
from mer.methods.ra_icl.network import RegionDiscovery
from mer.methods.ra_icl.sampling import STRATEGIES, Keyframes, select
from mer.protocols import loso_folds
from mer.training import InputSources, train_fold
from mer.training import loop as loop_module

TINY_RESNET = {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_type": "deep", "stem_width": 8, "output_stride": 8}
CLASSES = ["negative", "positive", "surprise"]
SUBJECTS = ["sub01", "sub02", "sub03"]
ONSET, APEX, OFFSET = 1, 6, 11
EXPERIMENT = {
    "datasets": ["toy"],
    "protocol": "loso",
    "model": "resnet18",
    "model_kwargs": TINY_RESNET,
    "method": "ra_icl",
    "method_kwargs": {"instances": 4, "dim": 16, "heads": 2},
    "input": "instance_flows",
    "input_size": 24,
    "epochs": 3,
    "batch_size": 8,
    "lr": 0.003,
    "weight_decay": 0.0001,
    "seeds": [0],
}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as training jobs use: tiny tensors only lose time to thread hand-offs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def where(clip: str = "EP01") -> dict[str, str]:
    return {"dataset": "toy", "subject": "sub01", "clip": clip}


# --- which frames: the cache's superset and the load-time strategies -------------------------


def test_cache_rules_store_a_superset_with_its_frame_numbers() -> None:
    numbers = np.arange(10, 21)
    assert instance_frames(numbers, 11, 19, "all") == list(range(12, 20))
    assert instance_frames(numbers, 11, 19, {"stride": 3}) == [12, 15, 18]
    assert instance_frames(numbers, 11, 19, 3) == middle_frames(numbers, 11, 19, 3) == [12, 16, 19]
    assert instance_frames(numbers, 11, 19, 0) == []
    for bad in (-1, True, "most", {"stride": 0}, {"every": 2}):
        with pytest.raises(ConfigError, match="flow.instances"):
            instance_frames(numbers, 11, 19, bad)


TVL1 = {
    "tau": 0.25,
    "lambda_": 0.15,
    "theta": 0.3,
    "nscales": 2,
    "warps": 2,
    "epsilon": 0.01,
    "inner_iterations": 10,
    "outer_iterations": 2,
    "scale_step": 0.8,
    "gamma": 0.0,
    "median_filtering": 5,
}
FRAMES = np.arange(2, 31)  # an `all` cache of a clip with onset 1, apex 10, offset 30
KEYS = Keyframes(onset=1, apex=10, offset=30)


@pytest.mark.parametrize(
    ("strategy", "count", "frames", "middle"),
    [
        ("middle", 4, [14, 15, 16, 17], 15),  # around (1 + 30) / 2 = 15.5, ties to the earlier frame
        ("apex_centred", 4, [8, 9, 10, 11], 10),
        ("apex_centred", 1, [10], 10),  # M1: the single onset/apex instance
        ("all", 4, list(range(2, 31)), 15),
        ("activation", 4, [4, 5, 6, 7], 5),  # around (1 + 10) / 2
        ("activation", 50, list(range(2, 10)), 5),  # the apex never enters
        ("decay", 4, [18, 19, 20, 21], 20),  # around (10 + 30) / 2, ties to the earlier frame
        ("decay", 50, list(range(11, 31)), 20),
        ("evenly", 4, [2, 11, 21, 30], 11),  # flow.instances: 4's rule, from an `all` cache
    ],
)
def test_each_strategy_selects_its_frames(strategy: str, count: int, frames: list[int], middle: int) -> None:
    selection = select(FRAMES, KEYS, strategy, count, np.random.default_rng(0), where())
    assert FRAMES[selection.positions].tolist() == frames
    assert FRAMES[selection.positions][selection.middle] == middle


def test_evenly_matches_the_integer_cache_rule_and_random_is_seeded_per_clip() -> None:
    evenly = select(FRAMES, KEYS, "evenly", 16, np.random.default_rng(0), where())
    assert FRAMES[evenly.positions].tolist() == middle_frames(np.arange(1, 31), 1, 30, 16)
    draws = [select(FRAMES, KEYS, "random", 6, np.random.default_rng(seed), where()) for seed in (3, 3, 4)]
    chosen = [FRAMES[d.positions].tolist() for d in draws]
    assert chosen[0] == chosen[1] != chosen[2]
    assert all(len(set(c)) == 6 and c == sorted(c) and min(c) > 1 and max(c) <= 30 for c in chosen)
    assert set(STRATEGIES) == {"middle", "apex_centred", "all", "random", "activation", "decay", "evenly"}


def test_strided_cache_gives_the_nearest_cached_frames_and_an_empty_phase_names_the_clip() -> None:
    strided = np.arange(2, 31, 2)
    selection = select(strided, KEYS, "middle", 4, np.random.default_rng(0), where())
    assert strided[selection.positions].tolist() == [12, 14, 16, 18]
    with pytest.raises(InputDataError, match="clip=EP07.*activation"):
        select(FRAMES, Keyframes(1, 2, 30), "activation", 4, np.random.default_rng(0), where("EP07"))


def write_faces(path: Path) -> None:
    """faces/sub01.h5: one 24² clip (frames 10..20) whose texture drifts 0.3 px per frame."""
    y, x = np.mgrid[0:24, 0:24].astype(np.float64)
    frames = []
    for n in range(10, 21):
        grey = 128 + 50 * np.sin(0.5 * (x - 0.3 * (n - 10))) * np.cos(0.4 * y)
        frames.append(np.repeat(np.clip(np.round(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=2))
    with h5.open_for_write(path) as handle:
        handle.attrs["dataset"], handle.attrs["subject"] = "toy", "sub01"
        group = h5.create_group(handle, "EP01")
        h5.create_dataset(group, "frames", np.stack(frames))
        h5.create_dataset(group, "frame_numbers", np.arange(10, 21, dtype=np.int32))
        group.attrs["box"] = np.array([0, 0, 24, 24], dtype=np.int32)


@pytest.mark.parametrize(("rule", "frames"), [("all", list(range(12, 20))), ({"stride": 2}, [12, 14, 16, 18])])
def test_flow_cache_superset_rules_are_byte_identical_and_load_with_frames(tmp_path: Path, rule, frames) -> None:
    write_faces(tmp_path / "faces.h5")
    keyframes = pd.DataFrame([{**where(), "onset": 11, "apex": 15, "offset": 19}])
    params = {"backend": "opencv", "size": 16, "instances": rule, "tvl1": TVL1}
    flow_subject(tmp_path / "faces.h5", keyframes, params, tmp_path / "a.h5")
    flow_subject(tmp_path / "faces.h5", keyframes, params, tmp_path / "b.h5")
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    cached = load_instances(tmp_path / "a.h5", "EP01")
    assert cached.frames.tolist() == frames and cached.flows.shape == (len(frames), 3, 16, 16)
    assert (cached.onset, cached.apex, cached.offset) == (11, 15, 19)
    assert np.array_equal(load_flow(tmp_path / "a.h5", "EP01", "instances"), cached.flows)
    if rule == "all":  # the instance ending at the apex is the onset → apex (rise) pair itself
        np.testing.assert_array_equal(cached.flows[frames.index(15)], load_flow(tmp_path / "a.h5", "EP01", "rise"))


# --- mirroring and CAM alignment --------------------------------------------------------------


def test_flip_negates_u_and_keeps_strain_consistent() -> None:
    rng = np.random.default_rng(0)
    uv = torch.from_numpy(rng.normal(size=(2, 2, 6, 7)))
    flow = torch.cat([uv, optical_strain(uv).unsqueeze(1)], dim=1)
    flipped = flip_flow(flow)
    assert torch.equal(flipped[:, 0], -flow[:, 0].flip(-1))
    assert torch.equal(flipped[:, 1:], flow[:, 1:].flip(-1))
    # the mirrored field's own strain is the mirrored strain: u must change sign
    assert torch.allclose(optical_strain(flipped[:, :2]), flipped[:, 2], atol=1e-12)
    unsigned = flow[:, :2].flip(-1)
    assert not torch.allclose(optical_strain(unsigned), flipped[:, 2], atol=1e-3)
    assert torch.equal(flip_flow(flipped), flow) and torch.equal(flip_map(flip_map(uv)), uv)


def tiny_net(mrd: bool = True, irc: bool = True, size: int = 24, classes: int = 3) -> tuple[RaICL, torch.nn.Module]:
    torch.manual_seed(0)
    method = RaICL(**{**EXPERIMENT["method_kwargs"], "irc": irc, "mrd": mrd})
    inputs = {"instances": torch.zeros(1, 1, 3, size, size)}
    return method, method.build({**EXPERIMENT, "input_size": size}, classes, inputs)


def mirror_symmetric(net: torch.nn.Module) -> None:
    """Make the online encoder flip-equivariant for flows: mirror-symmetric kernels, u ignored."""
    with torch.no_grad():
        for module in net.online.encoder.backbone.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.copy_((module.weight + module.weight.flip(-1)) / 2)
        first_conv(net).weight[:, 0] = 0


def first_conv(net: torch.nn.Module) -> torch.nn.Conv2d:
    """The convolution that reads the flow channels (a deep stem nests it in a Sequential)."""
    return next(m for m in net.online.encoder.backbone.modules() if isinstance(m, torch.nn.Conv2d))


def cam_gap(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(online CAM of x, the flipped-back CAM of the mirrored x) from the same online encoder."""
    encoder = net.online.encoder
    return encoder.cam(encoder.features(x)), flip_map(encoder.cam(encoder.features(flip_flow(x))))


def test_flipped_input_gives_flipped_cam_and_zero_alignment_only_for_a_symmetric_model() -> None:
    _, net = tiny_net(size=25)  # odd sizes keep stride-2 sampling grids mirror-symmetric
    net.eval()
    x = torch.randn(2, 3, 25, 25)
    cam, back = cam_gap(net, x)
    assert cam.shape == (2, 3, 4, 4)
    asymmetric = attention_alignment(cam, back).item()
    mirror_symmetric(net)
    cam, back = cam_gap(net, x)
    assert torch.allclose(cam, back, atol=1e-5)
    assert attention_alignment(cam, back).item() < 1e-10 < 1e-4 < asymmetric
    # a model that reads u is not invariant to flipping without negating u
    with torch.no_grad():
        first_conv(net).weight[:, 0] = 1
    cam, back = cam_gap(net, x)
    assert attention_alignment(cam, back).item() > 1e-4


# --- EMA target, region discovery, loss ------------------------------------------------------


def test_ema_update_is_exact_and_the_target_gets_no_gradient() -> None:
    method, net = tiny_net()
    online, target = dict(net.online.named_parameters()), dict(net.target.named_parameters())
    assert online.keys() == target.keys() and all(torch.equal(online[k], target[k]) for k in online)
    assert not any(p.requires_grad for p in target.values())
    trained = method.parameters(net)
    assert len(trained) == len(online) and all(a is b for a, b in zip(trained, online.values(), strict=True))
    batch = {
        "instances": torch.randn(4, 3, 3, 24, 24),
        "count": torch.tensor([3, 2, 1, 3]),
        "middle": torch.tensor([1, 0, 0, 1]),
    }
    net.train()
    method.loss(net, batch, torch.tensor([0, 1, 2, 0])).backward()
    assert all(p.grad is None for p in target.values())
    assert all(online[k].grad is not None for k in ("encoder.classifier.weight", "regions.queries"))
    with torch.no_grad():
        for p in online.values():
            p.add_(torch.randn_like(p))
    before = {k: p.clone() for k, p in target.items()}
    method.after_step(net)
    for key, p in target.items():
        assert torch.equal(p, 0.99 * before[key] + (1 - 0.99) * online[key].detach()), key
    assert "target.encoder.classifier.weight" in net.state_dict()


def test_query_decoder_shapes_and_pixel_assignment_sums_to_one() -> None:
    torch.manual_seed(0)
    regions = RegionDiscovery(channels=12, dim=16, queries=8, layers=2, heads=4, temperature=0.1)
    features = torch.randn(3, 12, 5, 6)
    assert regions.decode(features).shape == (3, 8, 16)
    out = regions(features)
    assert out.assign.shape == out.log_assign.shape == (3, 8, 5, 6) and out.embeddings.shape == (3, 8, 16)
    assert torch.allclose(out.assign.sum(dim=1), torch.ones(3, 5, 6), atol=1e-6)
    assert torch.allclose(out.log_assign.exp(), out.assign, atol=1e-6)
    assert out.assign.min() >= 0


def test_random_pairs_are_distinct_in_range_and_seeded() -> None:
    count = torch.tensor([1, 2, 3, 16] * 50)
    torch.manual_seed(0)
    first, second = random_pairs(count)
    assert ((first >= 0) & (first < count) & (second >= 0) & (second < count)).all()
    assert ((first != second) == (count > 1)).all()
    assert len(set(zip(first[count == 16].tolist(), second[count == 16].tolist(), strict=True))) > 20
    torch.manual_seed(0)
    assert all(torch.equal(a, b) for a, b in zip(random_pairs(count), (first, second), strict=True))


@pytest.mark.parametrize(("irc", "mrd"), [(True, True), (False, True), (True, False), (False, False)])
def test_loss_is_finite_and_decreases_on_a_toy_batch(irc: bool, mrd: bool) -> None:
    method, net = tiny_net(irc=irc, mrd=mrd)
    assert (net.target is None) == (not irc and not mrd)
    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    instances = 0.1 * torch.randn(6, 3, 3, 24, 24, generator=generator)
    for row, label in enumerate(labels.tolist()):
        instances[row, :, 0, 8 * label : 8 * label + 8] += torch.tensor([0.5, 1.0, 0.7]).view(3, 1, 1)
    batch = {"instances": instances, "count": torch.tensor([3, 3, 2, 3, 1, 3]), "middle": torch.ones(6).long()}
    optimizer = torch.optim.Adam(method.parameters(net), lr=0.003)
    net.train()
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = method.loss(net, batch, labels)
        loss.backward()
        optimizer.step()
        method.after_step(net)
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < np.mean(losses[:3])


def test_label_acl_ignores_the_maps_of_classes_outside_the_batch_and_all_does_not() -> None:
    generator = torch.Generator().manual_seed(2)
    batch = {"instances": torch.randn(4, 2, 3, 24, 24, generator=generator), "count": torch.tensor([2, 2, 2, 2])}
    labels = torch.tensor([0, 1, 0, 1])  # class 2 is in no item's label
    for maps, moves in (("label", False), ("all", True)):
        method, net = tiny_net(mrd=False)
        method.settings = dataclasses.replace(method.settings, acl_maps=maps)
        torch.manual_seed(5)
        before = method.loss_terms(net, batch, labels)["acl"]
        with torch.no_grad():
            net.online.encoder.classifier.weight[2] += 1.0
            net.target.encoder.classifier.weight[2] -= 1.0
        torch.manual_seed(5)
        after = method.loss_terms(net, batch, labels)["acl"]
        assert (not torch.equal(before, after)) == moves, maps


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("vit_base_patch16_224", {"depth": 1, "embed_dim": 16, "num_heads": 2, "patch_size": 8}),
        ("convnext_tiny", {"depths": [1, 1, 1, 1], "dims": [8, 16, 32, 64]}),
    ],
)
def test_a_timm_backbone_swap_trains_and_predicts(model: str, kwargs: dict) -> None:
    torch.manual_seed(0)
    method = RaICL(**EXPERIMENT["method_kwargs"])
    batch = {"instances": torch.randn(2, 2, 3, 32, 32), "count": torch.tensor([2, 1]), "middle": torch.tensor([1, 0])}
    net = method.build({**EXPERIMENT, "model": model, "model_kwargs": kwargs, "input_size": 32}, 3, batch)
    net.train()
    loss = method.loss(net, batch, torch.tensor([0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and net.online.regions.queries.grad is not None
    net.eval()
    assert method.logits(net, batch).shape == (2, 3)


def test_ensemble_inference_averages_class_probabilities_over_valid_instances() -> None:
    _, net = tiny_net()
    net.eval()
    batch = {"instances": torch.randn(2, 3, 3, 24, 24), "count": torch.tensor([3, 1]), "middle": torch.tensor([2, 0])}
    with torch.no_grad():
        middle = RaICL(inference="middle").logits(net, batch)
        ensemble = RaICL(inference="ensemble").logits(net, batch)
        per_instance = net(batch["instances"].flatten(0, 1)).view(2, 3, -1).softmax(dim=-1)
    assert torch.allclose(middle, net(batch["instances"][[0, 1], [2, 0]]))
    assert torch.allclose(ensemble[0].exp(), per_instance[0].mean(dim=0), atol=1e-6)
    assert torch.allclose(ensemble[1].exp(), per_instance[1, 0], atol=1e-6)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unexpected keyword"):
        RaICL(lambda_4=1)
    with pytest.raises(ConfigError, match="sampling='apex'"):
        RaICL(sampling="apex")
    with pytest.raises(ConfigError, match="dim=10"):
        RaICL(dim=10, heads=4)
    with pytest.raises(ConfigError, match="timm backbone"):
        RaICL().build({**EXPERIMENT, "model": "ststnet"}, 3, {"instances": torch.zeros(1, 1, 3, 24, 24)})


# --- end to end -----------------------------------------------------------------------------


def make_instance_corpus(root: Path) -> pd.DataFrame:
    """Flow caches with an `all` instance set (frames 2..11: rise to the apex 6, then decay) per clip.

    A clip's class is a u-motion band in a third of the rows, whose strength follows the
    expression's intensity curve, plus noise.
    """
    rng = np.random.default_rng(7)
    frames = np.arange(ONSET + 1, OFFSET + 1)
    intensity = 1 - np.abs(frames - APEX) / (APEX - ONSET + 1)
    rows = []
    (root / "flow").mkdir(parents=True, exist_ok=True)
    for subject in SUBJECTS:
        with h5.open_for_write(root / "flow" / f"{subject}.h5") as handle:
            handle.attrs["dataset"], handle.attrs["subject"] = "toy", subject
            for label, name in enumerate(CLASSES):
                for k in range(3):
                    clip = f"EP{label:02d}_{k:02d}"
                    flows = rng.normal(0.0, 0.05, size=(len(frames), 3, 18, 18)).astype(np.float32)
                    flows[:, 0, 6 * label : 6 * label + 6] += (intensity * rng.uniform(1, 2))[:, None, None]
                    flows[:, 2] = np.abs(flows[:, 0]) * 0.1
                    group = h5.create_group(handle, clip)
                    h5.create_dataset(group, "rise", flows[APEX - ONSET - 1])
                    h5.create_dataset(group, "fall", -flows[-1])
                    h5.create_dataset(group, "instances", flows)
                    group.attrs["rise_frames"] = np.array([ONSET, APEX], dtype=np.int32)
                    group.attrs["fall_frames"] = np.array([APEX, OFFSET], dtype=np.int32)
                    group.attrs["instance_frames"] = frames.astype(np.int32)
                    keys = {"dataset": "toy", "subject": subject, "clip": clip}
                    rows.append(
                        {**keys, "onset": ONSET, "apex": APEX, "offset": OFFSET, "label": name, "label_index": label}
                    )
    return pd.DataFrame(rows).sort_values(["subject", "clip"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def instance_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, dict, InputSources]:
    root = tmp_path_factory.mktemp("ra_icl")
    manifest = make_instance_corpus(root)
    return root, manifest, loso_folds(manifest), InputSources(flow=lambda d, s: root / "flow" / f"{s}.h5")


def fit(corpus, out: str, **changes: object) -> Path:
    root, manifest, folds, sources = corpus
    train_fold(manifest, folds, "toy-sub01", {**EXPERIMENT, **changes}, sources, 0, root / out, threads=1, device="cpu")
    return root / out


def test_instance_inputs_follow_the_strategy(instance_corpus) -> None:
    root, manifest, _, sources = instance_corpus
    rows = manifest.iloc[:2]
    inputs = instance_inputs(rows, 18, "decay", 3, 0, sources)
    assert inputs["instances"].shape == (2, 3, 3, 18, 18)
    assert inputs["count"].tolist() == [3, 3] and inputs["middle"].tolist() == [1, 1]
    cached = load_instances(root / "flow" / "sub01.h5", rows.iloc[0]["clip"])
    wanted = cached.flows[cached.frames.tolist().index(8)]  # decay (6, 11] around 8.5: frames 7, 8, 9
    scaled = wanted / np.abs(wanted).max(axis=(1, 2), keepdims=True)
    assert torch.allclose(inputs["instances"][0, 1], torch.from_numpy(scaled))
    full = instance_inputs(rows, 18, "all", 3, 0, sources)
    assert full["instances"].shape[1] == 10 and full["middle"].tolist() == [4, 4]  # frame 6 = (1 + 11) / 2


def test_train_fold_end_to_end_is_byte_identical_and_resumes(instance_corpus, monkeypatch) -> None:
    first, second = fit(instance_corpus, "a"), fit(instance_corpus, "b")
    assert (first / "predictions.csv").read_bytes() == (second / "predictions.csv").read_bytes()
    predictions = pd.read_csv(first / "predictions.csv", dtype={"subject": str})
    assert len(predictions) == 9 and set(predictions["subject"]) == {"sub01"}
    log = json.loads((first / "log.json").read_text())
    assert [entry["epoch"] for entry in log["epochs"]] == [1, 2, 3]
    assert all(np.isfinite(entry["loss"]) for entry in log["epochs"])
    state = torch.load(first / "checkpoint.pt", weights_only=True)["model"]
    assert any(key.startswith("target.") for key in state)

    real_save, saves = loop_module.checkpoint.save, []

    def crash_after_two(path, checkpoint_state):
        real_save(path, checkpoint_state)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt("simulated kill after epoch 2")

    monkeypatch.setattr(loop_module.checkpoint, "save", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        fit(instance_corpus, "resumed")
    monkeypatch.setattr(loop_module.checkpoint, "save", real_save)
    resumed = fit(instance_corpus, "resumed")
    assert json.loads((resumed / "log.json").read_text())["resumed_epochs"] == 2
    assert (resumed / "predictions.csv").read_bytes() == (first / "predictions.csv").read_bytes()


def test_train_fold_ensemble_and_ablation_variants_run(instance_corpus) -> None:
    ensemble_kwargs = {**EXPERIMENT["method_kwargs"], "inference": "ensemble"}
    ensemble = fit(instance_corpus, "ensemble", epochs=1, method_kwargs=ensemble_kwargs)
    m1_kwargs = {"instances": 1, "sampling": "apex_centred", "irc": False, "mrd": False}
    single = fit(instance_corpus, "m1", epochs=1, method_kwargs=m1_kwargs)
    columns = ["logit_0", "logit_1", "logit_2"]
    logits = {out: pd.read_csv(out / "predictions.csv")[columns].to_numpy() for out in (ensemble, single)}
    assert all(scores.shape == (9, 3) and np.isfinite(scores).all() for scores in logits.values())
    assert np.allclose(np.exp(logits[ensemble]).sum(axis=1), 1, atol=1e-5)  # log of mean probabilities
    state = torch.load(single / "checkpoint.pt", weights_only=True)["model"]
    assert not any(key.startswith(("target.", "online.regions.")) for key in state)
    with pytest.raises(ConfigError, match="reads input 'instance_flows'"):
        fit(instance_corpus, "wrong", epochs=1, input="rise_flow")


def test_expanded_epoch_visits_every_instance_of_every_clip_once() -> None:
    """MIR expands each clip into its N instances: one training item per (clip, slot), labels kept."""
    count = torch.tensor([3, 1, 2])
    inputs = {"instances": torch.randn(3, 3, 3, 4, 4), "count": count, "middle": torch.tensor([1, 0, 1])}
    targets = torch.tensor([2, 0, 1])
    keys, items = RaICL().training_set(inputs, targets)
    assert keys == InstanceSamples.KEYS and len(items) == int(count.sum())
    seen = [(int(item[0]), int(item[3]), int(item[4])) for item in items]
    assert seen == [(3, 0, 2), (3, 1, 2), (3, 2, 2), (1, 0, 0), (2, 0, 1), (2, 1, 1)]
    assert torch.equal(items[4][1], inputs["instances"][2])
    keys, per_clip = RaICL(expand=False).training_set(inputs, targets)
    assert len(per_clip) == 3 and keys == sorted(inputs)
    partner = random_partner(torch.tensor([0, 0, 1]), count)
    assert partner[1] == 0 and partner[0] != 0 and partner[2] == 0
