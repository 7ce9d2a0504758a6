"""Prompt machinery (keys, prefix-tuning on timm ViT/Swin) and the L2P and DualPrompt learners on tiny backbones."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import timm
import torch

from mer.errors import ConfigError
from mer.incremental.backbones import save_random_backbone
from mer.incremental.learner import LabelSpace, LearnerConfig, SessionData, create_learner
from mer.incremental.prompts import PromptKeys, prompted_backbone, swin_block, vit_attention, vit_block

SIZE = 16
VIT = ("vit_base_patch16_224", {"depth": 5, "embed_dim": 32, "num_heads": 2, "patch_size": 8})
SWIN = ("swin_tiny_patch4_window7_224", {"embed_dim": 16, "depths": [2, 3], "num_heads": [1, 2], "window_size": 2})

# 4 sessions, 2 fine classes each, over 5 of 6 global emotions (the last is never seen).
LABELS = LabelSpace(
    fine_names=("a/0", "a/1", "b/1", "b/2", "c/0", "c/3", "d/2", "d/4"),
    fine_to_global=(0, 1, 1, 2, 0, 3, 2, 4),
    fine_session=(0, 0, 1, 1, 2, 2, 3, 3),
    global_names=("e0", "e1", "e2", "e3", "e4", "e5"),
)


def _session(index: int) -> SessionData:
    fine = tuple(f for f, s in enumerate(LABELS.fine_session) if s == index)
    y_fine = torch.tensor(fine * 3)
    x = torch.randn(len(y_fine), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(index))
    y_global = torch.tensor([LABELS.fine_to_global[f] for f in y_fine.tolist()])
    return SessionData(index=index, dataset="abcd"[index], x=x, y_fine=y_fine, y_global=y_global, fine_classes=fine)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Two cores are shared by several jobs: one torch thread keeps the tiny models fast."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random tiny ViT and Swin checkpoints, loaded back strictly by every learner."""
    folder = tmp_path_factory.mktemp("weights")
    files = {}
    for name, kwargs in (VIT, SWIN):
        files[name] = folder / f"{name}.pth"
        save_random_backbone(name, files[name], in_chans=3, input_size=SIZE, **kwargs)
    return files


def _config(backbone: tuple[str, dict], weights: dict[str, Path], **overrides) -> LearnerConfig:
    settings = {"preset": "config", **overrides.pop("settings", {})}
    name, kwargs = backbone
    return LearnerConfig(
        backbone=name,
        input_size=SIZE,
        in_chans=3,
        backbone_kwargs=kwargs,
        pretrained=str(weights[name]),
        batch_size=4,
        settings=settings,
        **overrides,
    )


def _trained(learner_name: str, config: LearnerConfig, sessions: int = 4):
    learner = create_learner(learner_name, config, LABELS)
    frozen = copy.deepcopy(learner.backbone.model.state_dict())
    for index in range(sessions):
        learner.learn(_session(index))
    return learner, frozen


@pytest.fixture(scope="module")
def dualprompt_vit(weights):
    return _trained("dualprompt", _config(VIT, weights))


def _tiny(backbone: tuple[str, dict]) -> torch.nn.Module:
    name, kwargs = backbone
    return timm.create_model(name, pretrained=False, num_classes=0, img_size=SIZE, **kwargs).eval()


def _empty(batch: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(batch, 0, width), torch.zeros(batch, 0, width)


@torch.no_grad()
def test_empty_prefix_reproduces_timm_blocks_exactly():
    torch.manual_seed(0)
    vit, swin = _tiny(VIT), _tiny(SWIN)
    tokens = torch.randn(2, 5, 32)
    assert torch.equal(vit_block(vit.blocks[0], tokens, _empty(2, 32)), vit.blocks[0](tokens))
    shifted = swin.layers[0].blocks[1]
    assert any(shifted.shift_size) and shifted.attn_mask is not None
    grid = torch.randn(2, 4, 4, 16)
    assert torch.equal(swin_block(shifted, grid, _empty(2, 16)), shifted(grid))
    x = torch.randn(2, 3, SIZE, SIZE)
    assert torch.equal(prompted_backbone(vit, "t").forward_prefixed(x, {}), vit(x))
    assert torch.equal(prompted_backbone(swin, "t").forward_prefixed(x, {}), swin(x))


@torch.no_grad()
def test_vit_prefix_attention_is_softmax_over_prefix_and_tokens():
    torch.manual_seed(1)
    attn = _tiny(VIT).blocks[0].attn
    x, keys, values = torch.randn(2, 5, 32), torch.randn(2, 3, 32), torch.randn(2, 3, 32)
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 2, 16).permute(2, 0, 3, 1, 4)
    k = torch.cat([keys.reshape(2, 3, 2, 16).transpose(1, 2), k], dim=2)
    v = torch.cat([values.reshape(2, 3, 2, 16).transpose(1, 2), v], dim=2)
    weights = (q @ k.transpose(-2, -1) / 16**0.5).softmax(dim=-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, 5, 32))
    torch.testing.assert_close(vit_attention(attn, x, (keys, values)), expected, rtol=1e-5, atol=1e-6)
    zero = vit_attention(attn, x, (torch.zeros(2, 3, 32), torch.zeros(2, 3, 32)))
    assert not torch.allclose(zero, attn(x))  # zero prompts still take attention mass: only length 0 is a no-op


@torch.no_grad()
def test_swin_prefix_belongs_to_its_sample_in_every_window():
    torch.manual_seed(2)
    block = _tiny(SWIN).layers[0].blocks[1]
    grid, prefix = torch.randn(2, 4, 4, 16), (torch.randn(2, 3, 16), torch.randn(2, 3, 16))
    both = swin_block(block, grid, prefix)
    for i in range(2):
        alone = swin_block(block, grid[i : i + 1], (prefix[0][i : i + 1], prefix[1][i : i + 1]))
        torch.testing.assert_close(both[i : i + 1], alone)
    assert not torch.allclose(both, block(grid))


def test_top_k_picks_the_most_similar_keys():
    keys = PromptKeys(4, 3, torch.Generator().manual_seed(0))
    with torch.no_grad():
        keys.keys.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0]]))
    query = torch.tensor([[0.2, 3.0, 1.0], [5.0, 0, -0.1]])  # scale must not matter: cosine similarity
    selection = keys.select(query, top_k=2)
    assert selection.index.tolist() == [[1, 2], [0, 1]]
    expected = torch.nn.functional.normalize(query, dim=1) @ keys.keys.T
    torch.testing.assert_close(selection.chosen_similarity(), expected.gather(1, selection.index).sum(1))
    assert keys.select(query, top_k=1, candidates=1).index.tolist() == [[0], [0]]
    batchwise = keys.select(torch.tensor([[0.0, 1, 0.9], [0, 1, 0.1], [1, 0.2, 0]]), top_k=1, batchwise=True)
    assert batchwise.index.tolist() == [[1], [1], [1]]  # key 1 is the top choice of two of the three queries
    with pytest.raises(ConfigError):
        keys.select(query, top_k=5)


@pytest.mark.parametrize(
    ("learner", "backbone", "overrides"),
    [
        ("l2p", VIT, {}),
        ("l2p", SWIN, {"head": "expanding", "memory": 16}),
        ("dualprompt", SWIN, {"memory": 16, "settings": {"copy_previous": False}}),
    ],
    ids=["l2p-vit", "l2p-swin-expanding-memory", "dualprompt-swin-memory"],
)
def test_learner_runs_a_four_session_stream(weights, learner, backbone, overrides):
    trained, frozen = _trained(learner, _config(backbone, weights, **overrides))
    _check_trained(trained, frozen)
    assert trained.memory_size() == overrides.get("memory", 0) // 8 * 8


def test_dualprompt_vit_runs_a_four_session_stream(dualprompt_vit):
    _check_trained(*dualprompt_vit)


def _check_trained(learner, frozen) -> None:
    untrained = create_learner(type(learner).name, learner.config, LABELS).prompts.state_dict()
    assert all(not torch.equal(value, untrained[key]) for key, value in learner.prompts.state_dict().items())
    scores = learner.global_scores(torch.randn(5, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(9)))
    assert scores.shape == (5, 6)
    assert torch.isfinite(scores[:, :5]).all() and torch.isneginf(scores[:, 5]).all()
    after = learner.backbone.model.state_dict()
    assert all(torch.equal(after[key], value) for key, value in frozen.items())
    counts = learner.parameter_counts()
    assert 0 < counts["trainable"] < counts["total"]
    assert learner.weights_record()["sha256"]


def test_dualprompt_chooses_e_prompts_by_key_at_test_time(dualprompt_vit):
    learner = copy.deepcopy(dualprompt_vit[0])
    x = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        learner.prompts.keys.keys[:4] = learner.backbone.query(x).flip(0)  # sample i matches slot 3 - i best
    assert learner.test_selection(x).tolist() == [[3], [2], [1], [0]]
    with torch.no_grad():
        by_key = learner.head.to_global(learner.head(learner._features(x, torch.tensor([[3], [2], [1], [0]]))))
        by_last_session = learner.head.to_global(learner.head(learner._features(x, torch.full((4, 1), 3))))
    torch.testing.assert_close(learner.global_scores(x), by_key)
    assert not torch.allclose(by_key[:3], by_last_session[:3])


def test_dualprompt_starts_a_session_from_the_previous_e_prompts(weights):
    learner = create_learner("dualprompt", _config(VIT, weights, settings={"pool_size": 4}), LABELS)
    learner.learn(_session(0))
    learner.before_session(_session(1))
    assert all(torch.equal(e[1], e[0]) and not torch.equal(e[2], e[0]) for e in learner.prompts.e)


def test_learner_is_deterministic(weights):
    config = _config(VIT, weights, settings={"top_k": 2, "pool_size": 4})
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    first, second = (_trained("l2p", config, sessions=2)[0].global_scores(x) for _ in range(2))
    assert torch.equal(first, second)


def test_dualprompt_pool_overflow_is_a_config_error(weights):
    with pytest.raises(ConfigError, match="pool_size >= 20"):  # IMER's top-k 5 with pool 10
        create_learner("dualprompt", _config(VIT, weights, settings={"top_k": 5}), LABELS)
    with pytest.raises(ConfigError, match="pool_size >= 4"):
        create_learner("dualprompt", _config(VIT, weights, settings={"pool_size": 3}), LABELS)
    learner = create_learner("dualprompt", _config(VIT, weights, settings={"pool_size": 4}), LABELS)
    late = _session(3)
    with pytest.raises(ConfigError, match="beyond the pool"):
        learner.learn(SessionData(4, late.dataset, late.x, late.y_fine, late.y_global, late.fine_classes))


def test_resnet_backbone_is_a_config_error():
    config = LearnerConfig(backbone="resnet18", input_size=SIZE, in_chans=3)
    for learner in ("l2p", "dualprompt"):
        with pytest.raises(ConfigError, match="ResNet has none"):
            create_learner(learner, config, LABELS)


@pytest.mark.parametrize(
    ("learner", "settings", "message"),
    [
        ("dualprompt", {"e_layers": [2, 7]}, "do not exist"),
        ("dualprompt", {"g_layers": [0, 2]}, "must not repeat"),
        ("l2p", {"preset": "fast"}, "unknown preset"),
        ("l2p", {"prompt_size": 3}, "unknown settings"),
    ],
)
def test_bad_settings_are_config_errors(weights, learner, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_learner(learner, _config(VIT, weights, settings=settings), LABELS)
