"""MA2MI pre-training: reconstruct I_{t+δ} from I_t and the encoded action, then keep the encoder.

For each drawn pair (see `mer.pretraining.pairs`), MIACNet's position branch encodes the
reference frame I_t, its action branch encodes the change I_{t+δ} − I_t into the action code
C_Δ, the fusion combines both in latent space and a light decoder maps the fused map back to
an image; the loss is the mean absolute error to the `pretrain.reconstruction` target
(default `residual`: the change I_{t+δ} − I_t in its own scale, so copying I_t cannot score;
`frame`: I_{t+δ} itself; docs/method-ma2mi.md says why these choices where the paper summary
is silent). After training, the loss with the action zeroed is recorded beside the loss with
the true action (`action_check` in the sidecar). Only the encoder (both branches and the
fusion) is saved: fine-tuning loads it strictly into `miacnet` and starts a fresh classifier.

Everything random comes from the seed: weights under `seeded_runtime`, pairs from one
`torch.Generator`; on the CPU the same params and data give the same weight bytes. The
weights are written atomically with a JSON sidecar (`<file>.json`): params, their hash, the
data hash, per-epoch losses and throughput, and the weights' SHA-256.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import torch
import torch.nn.functional as F
from torch import nn

from mer import atomic, config, paths
from mer.errors import ConfigError
from mer.methods.ma2mi.method import sidecar_path
from mer.methods.ma2mi.network import ACTION_CHANNELS, STRIDE, WIDTH, FrameDecoder, MIACEncoder
from mer.models.pretrained import file_sha256
from mer.pretraining import OUTPUT, VARIANT_OUTPUT
from mer.pretraining.faces import face_frames
from mer.pretraining.pairs import Frames, draw_pairs, long_enough, pair_inputs
from mer.pretraining.sources import Video, find_videos, read_video, videos_sha256
from mer.training.runtime import resolve_device, resolve_threads, seeded_runtime

CHANNELS = 3  # RGB frames


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to `count` inside the block, restored after it."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def settings(params: dict[str, Any], variant: str | None = None) -> dict[str, Any]:
    """params `pretrain` without its `variants`, with `variants[variant]` deep-merged in when named."""
    if "pretrain" not in params:
        raise ConfigError("params has no `pretrain` section (docs/method-ma2mi.md shows one)")
    section = {k: v for k, v in params["pretrain"].items() if k != "variants"}
    if variant is None:
        return section
    variants = params["pretrain"].get("variants", {})
    if variant not in variants:
        raise ConfigError(f"pretrain.variants has no {variant!r} (have {sorted(variants)})")
    merged = config.deep_merge(section, variants[variant])
    validator = jsonschema.Draft202012Validator({"$defs": config.schema()["$defs"], "$ref": "#/$defs/pretrain"})
    errors = sorted(validator.iter_errors(merged), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        where = [".".join(map(str, e.absolute_path)) for e in errors]
        lines = [f"  pretrain.variants.{variant} (merged): {key}: {e.message}" for key, e in zip(where, errors, strict=True)]
        raise ConfigError("invalid pre-training variant:\n" + "\n".join(lines))
    return merged


def data_root(section: dict[str, Any]) -> Path:
    """`pretrain.root`: `synthetic` is the macro preset's corpus (data/pretrain/macro), else a folder."""
    root = section["root"]
    return Path(paths.MACRO_CORPUS) if root == config.SYNTHETIC_ROOT else Path(root)


def output_path(variant: str | None = None) -> Path:
    """results/pretrained/ma2mi.pt, or ma2mi-<variant>.pt for a `pretrain.variants` entry."""
    return Path(OUTPUT) if variant is None else Path(VARIANT_OUTPUT.format(variant=variant))


def check(section: dict[str, Any]) -> tuple[int, int]:
    """The δ range after the checks JSON Schema cannot express: δ_min ≤ δ_max, input size a multiple of 8."""
    low, high = (int(v) for v in section["delta"])
    if not 1 <= low <= high:
        raise ConfigError(f"pretrain.delta must be [δ_min, δ_max], 1 ≤ δ_min ≤ δ_max, got {section['delta']}")
    if section["input_size"] % STRIDE:
        raise ConfigError(
            f"pretrain.input_size must be a multiple of {STRIDE} (the decoder's stride), got {section['input_size']}"
        )
    return low, high


def load_frames(root: Path, section: dict[str, Any], crop: dict[str, Any]) -> tuple[Frames, dict[str, Any]]:
    """Face frames of every video long enough for δ_max, and the data record (counts, hash, skipped)."""
    delta = check(section)
    videos = find_videos(root)
    faces = [face_frames(read_video(v), section["input_size"], section["face"], crop, _where(v)) for v in videos]
    kept = long_enough([len(f) for f in faces], delta)
    frames = Frames.stack([faces[i] for i in kept])
    record = {
        "root": str(root),
        "videos": len(videos),
        "used_videos": len(kept),
        "skipped_short": [video.name for i, video in enumerate(videos) if i not in kept],
        "frames": int(frames.lengths.sum()),
        "sha256": videos_sha256(videos),
    }
    return frames, record


def _where(video: Video) -> str:
    return str(video.files[0].parent if video.is_folder else video.files[0])


class Reconstructor(nn.Module):
    """The encoder being pre-trained and the decoder that is thrown away afterwards."""

    def __init__(self, width: int, action_channels: int, decouple: bool) -> None:
        super().__init__()
        self.encoder = MIACEncoder(CHANNELS, width, action_channels, decouple)
        self.decoder = FrameDecoder(width, CHANNELS)

    def forward(self, reference: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
        """Î_{t+δ} from I_t and the change, through the fused latent map."""
        return self.decoder(self.encoder(reference, change).fused)


def build(section: dict[str, Any]) -> Reconstructor:
    """The encoder–decoder sized by `pretrain.model_kwargs` (width, action_channels) and `decouple`."""
    kwargs = section.get("model_kwargs", {})
    unknown = sorted(set(kwargs) - {"width", "action_channels"})
    if unknown:
        raise ConfigError(f"pretrain.model_kwargs takes width and action_channels, got unknown {unknown}")
    width, action = kwargs.get("width", WIDTH), kwargs.get("action_channels", ACTION_CHANNELS)
    return Reconstructor(width, action, section.get("decouple", True))


def frame_target(reference: torch.Tensor, change: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
    """`frame`: the decoder outputs Î_{t+δ} itself, in the reference frame's per-channel scale.

    Over δ = 1–4 frames the change is ~1% of the frame, so copying I_t already scores almost
    the whole loss and the action code is barely needed (docs/method-ma2mi.md, "copy shortcut").
    """
    return later


def residual_target(reference: torch.Tensor, change: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
    """`residual`: the decoder outputs D(F) with Î_{t+δ} = I_t + s·D(F), s the change's per-channel
    max |value|, so its target is the scaled change (I_{t+δ} − I_t)/s and the loss is in change units.

    Only the action code carries the change, so copying I_t scores as badly as predicting no motion.
    """
    return change


# pretrain.reconstruction → what the decoder's output is compared with (L1); docs/method-ma2mi.md
RECONSTRUCTIONS = {"residual": residual_target, "frame": frame_target}
DEFAULT_RECONSTRUCTION = "residual"


def reconstruction_loss(
    model: Reconstructor,
    frames: Frames,
    pairs: torch.Tensor,
    dev: torch.device,
    reconstruction: str = DEFAULT_RECONSTRUCTION,
    *,
    zero_action: bool = False,
) -> torch.Tensor:
    """Mean absolute error of the decoder's output to the `reconstruction` target over a batch of pairs.

    `zero_action` feeds an all-zero change to the action branch: the diagnostic that tells
    whether the reconstruction uses the action code at all.
    """
    reference, change, later = (x.to(dev) for x in pair_inputs(frames, pairs))
    seen = torch.zeros_like(change) if zero_action else change
    return F.l1_loss(model(reference, seen), RECONSTRUCTIONS[reconstruction](reference, change, later))


def train(model: Reconstructor, frames: Frames, section: dict[str, Any], dev: torch.device) -> list[dict[str, float]]:
    """`epochs` passes of `samples_per_epoch` freshly drawn pairs; returns per-epoch loss and samples/s."""
    delta = check(section)
    optimizer = torch.optim.Adam(model.parameters(), lr=section["lr"], weight_decay=section["weight_decay"])
    generator = torch.Generator().manual_seed(section["seed"])
    history = []
    model.train()
    for epoch in range(1, section["epochs"] + 1):
        started = time.perf_counter()
        pairs = draw_pairs(frames.lengths, section["samples_per_epoch"], delta, generator)
        total = 0.0
        for chunk in pairs.split(section["batch_size"]):
            optimizer.zero_grad(set_to_none=True)
            loss = reconstruction_loss(model, frames, chunk, dev, section.get("reconstruction", DEFAULT_RECONSTRUCTION))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chunk)
        seconds = time.perf_counter() - started
        history.append(
            {"epoch": epoch, "loss": total / len(pairs), "seconds": seconds, "samples_per_second": len(pairs) / seconds}
        )
    return history


DIAGNOSTIC_PAIRS = 256  # pairs of the after-training check, drawn from their own seeded stream


@torch.no_grad()
def action_check(model: Reconstructor, frames: Frames, section: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    """Reconstruction loss with the true change and with the change zeroed, on fresh seeded pairs.

    A pre-trained encoder whose reconstruction does not get worse without the action has learnt
    appearance, not motion; `mer pretrain` records both so every weights file says which.
    """
    generator = torch.Generator().manual_seed(section["seed"] + 1)
    pairs = draw_pairs(frames.lengths, DIAGNOSTIC_PAIRS, check(section), generator)
    reconstruction = section.get("reconstruction", DEFAULT_RECONSTRUCTION)
    model.eval()
    losses = {
        name: float(
            sum(
                reconstruction_loss(model, frames, chunk, dev, reconstruction, zero_action=zero).item() * len(chunk)
                for chunk in pairs.split(section["batch_size"])
            )
            / len(pairs)
        )
        for name, zero in (("true_action", False), ("zero_action", True))
    }
    model.train()
    return {"reconstruction": reconstruction, "pairs": len(pairs), **losses}


def save_encoder(model: Reconstructor, out: Path) -> str:
    """The encoder's CPU state dict to `out`, atomically; returns the file's SHA-256."""
    state = {key: value.detach().cpu() for key, value in model.encoder.state_dict().items()}
    with atomic.atomic_path(out) as tmp:
        torch.save(state, tmp)
    return file_sha256(out)


def pretrain(
    section: dict[str, Any],
    root: Path,
    out: Path,
    crop: dict[str, Any],
    *,
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Pre-train on the videos under `root`, write `out` and `<out>.json`; returns the sidecar record."""
    started = time.perf_counter()
    threads = resolve_threads(threads)
    dev = resolve_device(device)
    with torch_threads(threads):  # face detection runs torch too; outside the deterministic block
        frames, data = load_frames(Path(root), section, crop)
    with seeded_runtime(section["seed"], threads):
        model = build(section).to(dev)
        history = train(model, frames, section, dev)
        diagnostic = action_check(model, frames, section, dev)
    out = Path(out)
    sha256 = save_encoder(model, out)
    record = {
        "method": "MA2MI (arXiv 2405.16451)",
        "file": str(out),
        "sha256": sha256,
        "part": "encoder",
        "params": section,
        "params_hash": config.params_hash(section),
        "data": data,
        "epochs": history,
        "action_check": diagnostic,
        "device": str(dev),
        "threads": threads,
        "torch": torch.__version__,
        "total_seconds": time.perf_counter() - started,
    }
    atomic.write_json(sidecar_path(out), record)
    return record
