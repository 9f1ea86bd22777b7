"""The one entry point that creates a base CLIP: any open_clip architecture plus its weights.

``pretrained`` may be an open_clip hub tag (needs a network), a local ``.pt``/``.pth``/``.bin``/
``.safetensors`` file, or ``local-dir:/path`` (a folder with ``open_clip_config.json`` and
weights, as open_clip 3.x reads it). Checkpoints load safely: safetensors, or
``torch.load(weights_only=True)``, which refuses any pickle that would construct arbitrary objects.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from react_assets.files.hashing import file_sha256

logger = logging.getLogger(__name__)

LOCAL_DIR_PREFIX = "local-dir:"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
PRECISIONS = ("fp32", "fp16", "bf16", "pure_fp16", "pure_bf16")
CONFIG_DIR = Path(__file__).parent / "configs"  # shipped open_clip configs, e.g. "react-tiny"


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint that would need arbitrary unpickling (code execution) to load."""


@dataclass(frozen=True)
class BaseModelConfig:
    """Which base CLIP to build: an open_clip architecture and where its weights come from."""

    arch: (
        str  # open_clip name ("ViT-B-32"), registered name ("react-mini-clip") or "local-dir:/path"
    )
    pretrained: str | None = None  # hub tag, checkpoint file, "local-dir:/path", or None (random)
    precision: str = "fp32"
    device: str = "cpu"
    init_seed: int = 0  # seeds the random initialisation, so a base is rebuilt bit-identically
    cache_dir: str | None = None  # open_clip hub cache, only used for hub tags

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"BaseModelConfig.precision={self.precision!r}: expected one of {PRECISIONS}"
            )


@dataclass(frozen=True)
class ClipBundle:
    """A CLIP model with everything needed to feed it."""

    model: nn.Module
    preprocess_train: Callable[[Any], torch.Tensor]
    preprocess_val: Callable[[Any], torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]
    model_id: str
    embed_dim: int


def _model_name(config: BaseModelConfig) -> str:
    """The open_clip model name: ``local-dir:`` in either field wins over ``arch``."""
    if config.pretrained and config.pretrained.startswith(LOCAL_DIR_PREFIX):
        return config.pretrained
    if config.arch.startswith(LOCAL_DIR_PREFIX):
        if config.pretrained:
            raise ValueError(
                f"BaseModelConfig: arch={config.arch!r} carries its own weights; "
                f"pretrained={config.pretrained!r} would be ignored"
            )
        return config.arch
    from react_assets.models.mini_clip import MINI_CLIP_ARCH, register_mini_clip

    if config.arch == MINI_CLIP_ARCH:
        register_mini_clip()
    elif (
        config.arch not in open_clip.list_models()
        and (CONFIG_DIR / f"{config.arch}.json").is_file()
    ):
        open_clip.add_model_config(CONFIG_DIR / f"{config.arch}.json")
    if config.arch.replace("/", "-") not in open_clip.list_models():
        raise ValueError(
            f"BaseModelConfig.arch={config.arch!r} is not an open_clip architecture "
            f"(see open_clip.list_models())"
        )
    return config.arch


def local_model_dir(config: BaseModelConfig) -> Path | None:
    """The folder of a ``local-dir:`` model, None for any other kind."""
    name = _model_name(config)
    return Path(name[len(LOCAL_DIR_PREFIX):]) if name.startswith(LOCAL_DIR_PREFIX) else None


def _local_checkpoint(pretrained: str | None) -> Path | None:
    """The checkpoint file named by ``pretrained``, or None for hub tags and random init."""
    if pretrained is None or pretrained.startswith(LOCAL_DIR_PREFIX):
        return None
    path = Path(pretrained).expanduser()
    looks_like_file = path.suffix in CHECKPOINT_SUFFIXES or "/" in pretrained
    if not looks_like_file:
        return None  # an open_clip hub tag such as "openai" or "laion2b_s34b_b79k"
    if not path.is_file():
        raise FileNotFoundError(f"pretrained checkpoint {path} does not exist")
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(
            f"pretrained checkpoint {path}: unsupported suffix {path.suffix!r}, "
            f"expected one of {CHECKPOINT_SUFFIXES}"
        )
    return path


def load_checkpoint_safely(model: nn.Module, path: Path) -> None:
    """Load a local checkpoint into ``model`` (strict), never unpickling arbitrary objects."""
    try:
        open_clip.load_checkpoint(model, str(path), strict=True, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"checkpoint {path} was refused: it is not a plain tensor file and loading it would "
            f"execute pickled code ({str(err).splitlines()[0]})"
        ) from err
    except RuntimeError as err:
        raise RuntimeError(f"checkpoint {path} does not match the model: {err}") from err


def _model_id(config: BaseModelConfig, name: str, checkpoint: Path | None) -> str:
    """A stable, human-readable id of the base model (architecture + weights identity)."""
    if name.startswith(LOCAL_DIR_PREFIX):
        folder = Path(name[len(LOCAL_DIR_PREFIX) :])
        weights = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
        digest = file_sha256(weights[0])[:12] if weights else "no-weights"
        return f"{folder.name}@sha256:{digest}"
    if checkpoint is not None:
        return f"{config.arch}@sha256:{file_sha256(checkpoint)[:12]}"
    if config.pretrained:
        return f"{config.arch}@{config.pretrained}"
    return f"{config.arch}@random-seed{config.init_seed}"


def create_base_model(config: BaseModelConfig) -> ClipBundle:
    """Build the frozen base CLIP described by ``config`` (eval mode, nothing requires grad)."""
    name = _model_name(config)
    checkpoint = _local_checkpoint(config.pretrained)
    tag = None if checkpoint is not None or name.startswith(LOCAL_DIR_PREFIX) else config.pretrained
    # Random initialisation (and the HF text tower's new layers) draw from the global RNG: fork it
    # so the same config always builds the same weights and the caller's RNG is left alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed)
        try:
            model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
                name,
                pretrained=tag,
                precision=config.precision,
                device=config.device,
                cache_dir=config.cache_dir,
                weights_only=True,
            )
        except pickle.UnpicklingError as err:  # a local-dir: folder holding an unsafe pickle
            raise UnsafeCheckpointError(
                f"weights of {name} were refused: loading them would execute pickled code "
                f"({str(err).splitlines()[0]})"
            ) from err
    if checkpoint is not None:
        load_checkpoint_safely(model, checkpoint)
        logger.info("loaded base weights from %s", checkpoint)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    model_cfg = open_clip.get_model_config(name)
    return ClipBundle(
        model=model,
        preprocess_train=preprocess_train,
        preprocess_val=preprocess_val,
        tokenizer=open_clip.get_tokenizer(name),
        model_id=_model_id(config, name, checkpoint),
        embed_dim=int(model_cfg["embed_dim"]),
    )
