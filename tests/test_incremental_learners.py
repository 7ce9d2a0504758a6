"""IMER heads, backbones, shared training, exemplar memory and the Finetune/RanPAC/DER/FOSTER learners."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from mer.errors import ConfigError
from mer.incremental.backbones import create_backbone, list_backbones, save_random_backbone
from mer.incremental.heads import Head
from mer.incremental.learner import LabelSpace, LearnerConfig, SessionData, create_learner, list_learners
from mer.incremental.learners.foster import class_counts, effective_number_weights
from mer.incremental.learners.ranpac import ridge_solutions
from mer.incremental.memory import ExemplarMemory
from mer.incremental.training import FitSettings, _batches, fit_epochs, read_settings, recording_losses

GLOBAL = ("disgust", "happiness", "others", "repression", "surprise", "anger", "contempt", "sad", "fear")
# Four sessions; happiness and surprise recur; disgust, others and contempt never appear.
SESSIONS = (
    ("a", ("happiness", "surprise", "repression")),
    ("b", ("happiness", "anger")),
    ("c", ("surprise", "sad")),
    ("d", ("happiness", "fear")),
)
UNSEEN = [GLOBAL.index(e) for e in ("disgust", "others", "contempt")]
SIZE, CHANS, PER_CLASS, MEMORY = 16, 2, 3, 18
TINY = {
    "resnet18": {"layers": (1, 1, 1, 1), "channels": (8, 16, 32, 64), "stem_type": "deep", "stem_width": 8},
    "vit_base_patch16_224": {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8},
    "swin_tiny_patch4_window7_224": {"depths": (1, 1), "num_heads": (1, 2), "embed_dim": 16, "window_size": 4},
}
BACKBONES = sorted(TINY)
LEARNERS = ("der", "finetune", "foster", "ranpac")
COMBOS = (("rch", 0), ("expanding", MEMORY), ("expanding", 0), ("rch", MEMORY))
# Every learner meets every (head, memory) combination and every backbone.
MATRIX = [(name, BACKBONES[(j + k) % 3], *COMBOS[k]) for j, name in enumerate(LEARNERS) for k in range(4)]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Two cores are shared by several jobs: one torch thread keeps the tiny models fast."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def label_space() -> LabelSpace:
    fine = [(s, d, e) for s, (d, emotions) in enumerate(SESSIONS) for e in emotions]
    return LabelSpace(
        fine_names=tuple(f"{d}/{e}" for _, d, e in fine),
        fine_to_global=tuple(GLOBAL.index(e) for _, _, e in fine),
        fine_session=tuple(s for s, _, _ in fine),
        global_names=GLOBAL,
    )


def stream(labels: LabelSpace, per_class: int = PER_CLASS) -> list[SessionData]:
    """Random inputs, `per_class` samples of each fine class, one SessionData per session."""
    generator = torch.Generator().manual_seed(0)
    sessions = []
    for index, (dataset, _) in enumerate(SESSIONS):
        fine = tuple(f for f, s in enumerate(labels.fine_session) if s == index)
        y = torch.tensor([f for f in fine for _ in range(per_class)])
        x = torch.randn(len(y), CHANS, SIZE, SIZE, generator=generator)
        y_global = torch.tensor([labels.fine_to_global[f] for f in y.tolist()])
        sessions.append(SessionData(index, dataset, x, y, y_global, fine))
    return sessions


def config(backbone: str, head: str = "rch", memory: int = 0, **extra: Any) -> LearnerConfig:
    settings = {"M": 24} if extra.pop("ranpac", False) else {}
    return LearnerConfig(
        backbone=backbone,
        input_size=SIZE,
        in_chans=CHANS,
        head=head,
        memory=memory,
        batch_size=8,
        lr=0.01,
        backbone_kwargs=TINY[backbone],
        settings={**settings, **extra.pop("settings", {})},
        **extra,
    )


def seen_so_far(labels: LabelSpace, sessions: list[SessionData]) -> set[int]:
    return {labels.fine_to_global[f] for s in sessions for f in s.fine_classes}


def test_rch_sum_favours_an_emotion_present_in_several_sessions_and_max_does_not() -> None:
    labels = label_space()
    sessions = stream(labels, per_class=1)[:2]
    scores = {}
    for rule in ("sum", "max", "mean", "logsumexp"):
        head = Head("rch", labels, in_features=1, rch_aggregation=rule)
        for session in sessions:
            head.grow(session)
        # fine classes a/happiness, a/surprise, a/repression, b/happiness, b/anger
        with torch.no_grad():
            head.blocks[0].weight.copy_(torch.tensor([[1.0], [0.2], [0.1]]))
            head.blocks[1].weight.copy_(torch.tensor([[1.0], [1.5]]))
        scores[rule] = head.to_global(head(torch.ones(1, 1)))[0]
    happiness, anger = GLOBAL.index("happiness"), GLOBAL.index("anger")
    assert scores["sum"][happiness] == 2.0 and scores["sum"].argmax() == happiness
    assert scores["max"][happiness] == 1.0 and scores["max"].argmax() == anger
    assert scores["mean"][happiness] == 1.0
    assert torch.isclose(scores["logsumexp"][happiness], torch.log(2 * torch.exp(torch.tensor(1.0))))
    for rule_scores in scores.values():
        unseen = [g for g in range(len(GLOBAL)) if g not in seen_so_far(labels, sessions)]
        assert torch.isinf(rule_scores[unseen]).all() and (rule_scores[unseen] < 0).all()


def test_expanding_head_has_one_output_per_global_emotion_and_widening_keeps_logits() -> None:
    labels = label_space()
    sessions = stream(labels, per_class=1)
    head = Head("expanding", labels, in_features=3)
    added = [head.grow(session) for session in sessions]
    assert added == [3, 1, 1, 1] and head.output_global.tolist() == head.output_ids.tolist()
    targets = head.targets(sessions[1].y_fine, sessions[1].y_global)
    assert targets.tolist() == [0, 3]  # happiness keeps its session-1 output
    features = torch.randn(4, 3)
    before = head(features)
    head.widen(5)
    assert torch.equal(head(torch.cat([features, torch.zeros(4, 2)], dim=1)), before)
    with pytest.raises(ConfigError, match="unknown rch_aggregation"):
        Head("rch", labels, 3, rch_aggregation="median")
    with pytest.raises(ConfigError, match="unknown head"):
        Head("multi", labels, 3)


def test_backbone_loads_a_local_file_strictly_and_records_its_sha(tmp_path: Path) -> None:
    assert {"resnet18", "vit_base_patch16_224", "swin_tiny_patch4_window7_224"} <= set(list_backbones())
    path = tmp_path / "vit.pth"
    vit = "vit_base_patch16_224"
    sha = save_random_backbone(vit, path, in_chans=CHANS, input_size=SIZE, **TINY[vit])
    saved = torch.load(path, weights_only=True)
    backbone = create_backbone(vit, in_chans=CHANS, input_size=SIZE, pretrained=path, **TINY[vit])
    assert backbone.weights is not None and backbone.weights["sha256"] == sha and backbone.dim == 32
    assert backbone.weights["reinitialised"] == ["head.weight", "head.bias"]  # the ImageNet-style classifier
    for key, value in backbone.extractor.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert backbone.extractor(torch.zeros(2, CHANS, SIZE, SIZE)).shape == (2, 32)
    with pytest.raises(ConfigError):
        create_backbone("resnet18", in_chans=CHANS, input_size=SIZE, pretrained=path, **TINY["resnet18"])
    with pytest.raises(ConfigError, match="not found"):
        create_backbone("resnet18", in_chans=CHANS, input_size=SIZE, pretrained=tmp_path / "missing.pth")
    with pytest.raises(ConfigError, match="unknown backbone"):
        create_backbone("alexnet", in_chans=CHANS, input_size=SIZE)


@pytest.mark.parametrize(("learner", "backbone", "head", "memory"), MATRIX)
def test_learner_runs_the_stream_with_local_weights(
    tmp_path: Path, learner: str, backbone: str, head: str, memory: int
) -> None:
    assert learner in list_learners()
    path = tmp_path / "weights.pth"
    sha = save_random_backbone(backbone, path, in_chans=CHANS, input_size=SIZE, **TINY[backbone])
    labels = label_space()
    sessions = stream(labels)
    settings = config(backbone, head, memory, pretrained=str(path), ranpac=learner == "ranpac")
    model = create_learner(learner, settings, labels)
    assert model.weights_record()["sha256"] == sha
    probe = torch.cat([s.x[:2] for s in sessions])
    training = torch.cat([s.x for s in sessions]).flatten(1)
    for t, session in enumerate(sessions):
        model.learn(session)
        scores = model.global_scores(probe)
        seen = sorted(seen_so_far(labels, sessions[: t + 1]))
        unseen = [g for g in range(len(GLOBAL)) if g not in seen]
        assert scores.shape == (len(probe), len(GLOBAL))
        assert torch.isfinite(scores[:, seen]).all()
        assert torch.isneginf(scores[:, unseen]).all()
        assert model.memory_size() <= memory
        if memory:
            kept = model.memory.x.flatten(1)
            assert model.memory_size() > 0
            assert all(bool((training == row).all(dim=1).any()) for row in kept)  # only training samples
    assert sorted(set(UNSEEN)) == [g for g in range(len(GLOBAL)) if g not in seen_so_far(labels, sessions)]
    counts = model.parameter_counts()
    assert counts["total"] >= counts["trainable"] >= 0 and counts["total"] > 0


def test_der_freezes_old_extractors_including_batchnorm_statistics() -> None:
    labels = label_space()
    sessions = stream(labels)
    model = create_learner("der", config("resnet18"), labels)
    model.learn(sessions[0])
    before = {k: v.clone() for k, v in model.extractors[0].state_dict().items()}
    model.learn(sessions[1])
    model.learn(sessions[2])
    assert len(model.extractors) == 3 and model.head.in_features == 3 * 64
    assert all(not p.requires_grad for e in model.extractors[:-1] for p in e.parameters())
    assert all(p.requires_grad for p in model.extractors[-1].parameters())
    for key, value in model.extractors[0].state_dict().items():
        assert torch.equal(value, before[key]), key
    assert any(not torch.equal(v, before[k]) for k, v in model.extractors[-1].state_dict().items())


def test_ranpac_eigen_solve_matches_direct_solves() -> None:
    generator = torch.Generator().manual_seed(1)
    h = torch.relu(torch.randn(60, 12, generator=generator, dtype=torch.float64))
    y = torch.nn.functional.one_hot(torch.arange(60) % 4).double()
    g, q = h.T @ h, h.T @ y
    ridges = [10.0**k for k in range(-8, 9)]
    for ridge, w in zip(ridges, ridge_solutions(g, q, ridges), strict=True):
        direct = torch.linalg.solve(g + ridge * torch.eye(12, dtype=torch.float64), q)
        assert torch.allclose(w, direct, rtol=1e-7, atol=1e-10), ridge


def test_ranpac_reruns_bit_identical_and_freezes_the_backbone() -> None:
    labels = label_space()
    sessions = stream(labels)
    runs = []
    for _ in range(2):
        model = create_learner("ranpac", config("vit_base_patch16_224", ranpac=True), labels)
        for session in sessions:
            model.learn(session)
        runs.append((model.global_scores(sessions[0].x), model.ridges, model.w))
        assert model.parameter_counts()["trainable"] == 0 and len(model.ridges) == len(sessions)
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1] and torch.equal(runs[0][2], runs[1][2])


def test_foster_weights_come_from_sample_counts() -> None:
    targets = torch.tensor([2, 2, 0, 5, 2])
    assert class_counts(targets, 6).tolist() == [1, 0, 3, 0, 0, 1]  # IMER's bug would give index sums
    weights = effective_number_weights(class_counts(targets, 6), 0.96)
    assert torch.isfinite(weights).all() and torch.isclose(weights.sum(), torch.tensor(6.0))
    assert weights[2] < weights[0] == weights[1]  # the frequent class weighs least; zero counts act as one

    labels = label_space()
    sessions = stream(labels)
    model = create_learner("foster", config("vit_base_patch16_224"), labels)
    model.learn(sessions[0])
    model.learn(sessions[1])
    assert model.counts.tolist() == [0, 0, 0, PER_CLASS, PER_CLASS]  # rch, memory 0: old fine classes empty
    backbone_only = create_learner("foster", config("vit_base_patch16_224"), labels).parameter_counts()["total"]
    assert model.parameter_counts()["total"] == backbone_only + 5 * 32  # one backbone, 5 fine outputs


def test_memory_respects_the_budget_and_selects_reproducibly() -> None:
    labels = label_space()
    sessions = stream(labels)
    for policy in ("herding", "random"):
        kept = []
        for _ in range(2):
            memory = ExemplarMemory(5, policy)
            for session in sessions:
                memory.update(session, lambda x: x.flatten(1), seed=3)
                assert len(memory) <= 5
                quota = 5 // len(memory.classes)
                assert all(n <= quota for n in torch.bincount(memory.y_fine).tolist())
            kept.append(memory.x)
        assert torch.equal(kept[0], kept[1])
    x, y_fine, _ = ExemplarMemory(0).training_data(sessions[0])
    assert x is sessions[0].x and y_fine is sessions[0].y_fine
    with pytest.raises(ConfigError, match="unknown memory policy"):
        ExemplarMemory(3, "reservoir")


def test_fit_epochs_merges_a_trailing_single_sample_and_is_seeded() -> None:
    assert [b.numel() for b in _batches(5, 2, torch.Generator().manual_seed(0))] == [2, 3]
    x, y = torch.randn(9, 3), torch.randn(9, 1)
    results = []
    for run in range(2):
        torch.manual_seed(0)
        layer, dropout, norm = torch.nn.Linear(3, 1), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(3)
        torch.rand(run + 1)  # the caller's RNG differs between runs; fit_epochs must not depend on it
        caller_state = torch.get_rng_state()

        def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return ((layer(dropout(norm(xb))) - yb) ** 2).mean()

        settings = FitSettings(epochs=3, batch_size=2, lr=0.1)
        modules = [layer, dropout, norm]
        with recording_losses() as log:
            history = fit_epochs(loss, layer.parameters(), [x, y], settings, seed=7, train=modules, frozen=[norm])
        assert len(history) == 3 and not any(m.training for m in modules)
        # 9 samples in batches of 2: four per epoch, the trailing single sample merged
        assert log == [{"stage": "fit", "epochs": 3, "steps": 12, "loss": history}]
        assert torch.equal(norm.running_mean, torch.zeros(3))  # a frozen module's statistics never move
        assert torch.equal(torch.get_rng_state(), caller_state)
        results.append(layer.weight.detach().clone())
    assert torch.equal(results[0], results[1])


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="unknown settings"):
        read_settings(config("resnet18", settings={"beta": 1}), {"beta1": 0.5}, "foster")
    with pytest.raises(ConfigError, match="must be float"):
        read_settings(config("resnet18", settings={"beta1": "high"}), {"beta1": 0.5}, "foster")
    with pytest.raises(ConfigError, match="unknown optimizer"):
        FitSettings(1, 2, 0.1, optimizer="lbfgs")
    with pytest.raises(ConfigError, match="ce_scope"):
        create_learner("finetune", config("resnet18", settings={"ce_scope": "old"}), label_space())
