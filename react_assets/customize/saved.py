"""Saved customizations: only the new tensors (safetensors) and the JSON that rebuilds the model.

The frozen base weights are never copied; the JSON names them (``BaseModelConfig``) and records
the model's id, which ties it to the exact weights file (sha256).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, replace
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from react_assets.customize.gated import CustomizationConfig, customize_model, trainable_state_dict
from react_assets.files.atomic import atomic_path, write_json
from react_assets.files.hashing import file_sha256
from react_assets.models.base import model_location
from react_assets.models.factory import BaseModelConfig, ClipBundle, create_base_model

logger = logging.getLogger(__name__)

CUSTOMIZATION_WEIGHTS = "customization.safetensors"
CUSTOMIZATION_CONFIG = "customization.json"
CUSTOMIZATION_FORMAT = "react-customization/2"  # 2: the JSON records the model id


def save_customization(
    model: nn.Module, config: CustomizationConfig, base_config: BaseModelConfig, path: Path,
    name: str,
) -> str:
    """Save only the customization's own tensors (safetensors) + the JSON to rebuild the model.

    ``path`` is a folder; the frozen base weights are not copied (``base_config`` names them).
    Returns the model's id, ``<name>@sha256:<first 12 hex digits of the weights file>``, which
    :func:`load_customized_model` gives the reloaded model too.
    """
    folder = Path(path)
    state = {
        k: v.detach().cpu().contiguous() for k, v in trainable_state_dict(model, config).items()
    }
    with atomic_path(folder / CUSTOMIZATION_WEIGHTS) as tmp:
        save_file(state, str(tmp))
    model_id = f"{name}@sha256:{file_sha256(folder / CUSTOMIZATION_WEIGHTS)[:12]}"
    write_json(
        folder / CUSTOMIZATION_CONFIG,
        {
            "format": CUSTOMIZATION_FORMAT,
            "model_id": model_id,
            "customization": asdict(config),
            "base_model": asdict(portable_base_config(base_config, folder)),
            "tensors": sorted(state),
            "num_parameters": int(sum(t.numel() for t in state.values())),
        },
    )
    logger.info("saved %d customization tensors of %s to %s", len(state), model_id, folder)
    return model_id


def portable_base_config(config: BaseModelConfig, folder: Path) -> BaseModelConfig:
    """``config`` with its local weights (a ``local-dir:`` folder, a checkpoint file) named
    relative to ``folder``, so a home that is copied or moved still finds its base model."""
    def relative(value: str | None, file: bool) -> str | None:
        found = model_location(value, file)
        if found is None or not Path(found[1]).is_absolute():
            return value
        return found[0] + os.path.relpath(found[1], folder.resolve())
    return replace(config, arch=relative(config.arch, False),
                   pretrained=relative(config.pretrained, True))


def located_base_config(config: BaseModelConfig, folder: Path) -> BaseModelConfig:
    """A saved ``config`` (:func:`portable_base_config`) with its weights' paths absolute again."""
    def absolute(value: str | None, file: bool) -> str | None:
        found = model_location(value, file)
        if found is None or Path(found[1]).is_absolute():
            return value
        return found[0] + str((folder.resolve() / found[1]).resolve())
    return replace(config, arch=absolute(config.arch, False),
                   pretrained=absolute(config.pretrained, True))


def load_customized_model(path: Path) -> ClipBundle:
    """Rebuild the base model, customize it and load the saved tensors (strictly checked)."""
    folder = Path(path)
    meta_path = folder / CUSTOMIZATION_CONFIG
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: not a saved customization folder")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != CUSTOMIZATION_FORMAT:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r}, this version reads "
                         f"{CUSTOMIZATION_FORMAT!r}: re-materialize react_model for its domain")
    config = CustomizationConfig(**meta["customization"])
    bundle = create_base_model(located_base_config(BaseModelConfig(**meta["base_model"]), folder))
    model = customize_model(bundle.model, config)
    expected = trainable_state_dict(model, config)
    saved = load_file(str(folder / CUSTOMIZATION_WEIGHTS))
    if set(saved) != set(expected):
        diff = sorted(set(saved) ^ set(expected))[:5]
        raise ValueError(
            f"{folder / CUSTOMIZATION_WEIGHTS} does not match a {config.variant} "
            f"model of {bundle.model_id}: differing keys, e.g. {diff}"
        )
    model.load_state_dict(saved, strict=False)
    model.eval()
    digest = file_sha256(folder / CUSTOMIZATION_WEIGHTS)[:12]
    if not meta["model_id"].endswith(f"@sha256:{digest}"):
        raise ValueError(f"{folder / CUSTOMIZATION_WEIGHTS} has sha256 {digest}..., not the one "
                         f"its model id {meta['model_id']} names: the folder was modified")
    return replace(bundle, model=model, model_id=meta["model_id"])
