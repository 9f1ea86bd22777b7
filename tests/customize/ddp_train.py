"""Train the tiny colour world with train_contrastive, alone or as one rank under torchrun.

    python tests/customize/ddp_train.py OUT.json                        # one process
    python -m torch.distributed.run --nproc_per_node 2 tests/customize/ddp_train.py OUT.json   # gloo

Writes (rank 0) the loss curve and a checksum of the trained parameters to OUT.json.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from react_assets.customize.distributed import process_group
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.optim import trainable_parameters
from react_assets.customize.train import TrainConfig, train_contrastive
from react_assets.models.factory import BaseModelConfig, create_base_model

COLORS = [(220, 30, 30), (30, 200, 40), (30, 40, 220), (230, 220, 30), (10, 10, 10),
          (245, 245, 245), (140, 30, 160), (250, 140, 20)]
NAMES = ["red", "green", "blue", "yellow", "black", "white", "purple", "orange"]


def world() -> tuple[list[bytes], list[str]]:
    """Noisy colour patches captioned with their colour (as tests/customize/test_training.py's world)."""
    rng = np.random.default_rng(0)
    images, captions = [], []
    for _ in range(4):
        for name, rgb in zip(NAMES, COLORS, strict=True):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (40, 40, 3)), 0, 255)
            buffer = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
            images.append(buffer.getvalue())
            captions.append(f"a photo of something {name}")
    return images, captions


def main(out: Path) -> None:
    torch.set_num_threads(1)
    with process_group(backend="gloo") as (rank, n_ranks):
        bundle = create_base_model(BaseModelConfig(arch="react-tiny", init_seed=0))
        model = customize_model(bundle.model, CustomizationConfig(variant="gated-image",
                                                                  num_gated_blocks=2))
        images, captions = world()
        config = TrainConfig(epochs=3, batch_size=8, lr=2e-3, warmup_steps=2, num_workers=0,
                             log_every=1, checkpoint_every=100, device="cpu",
                             amp="off")  # float32 on any CPU: the curves are compared at 1e-4
        result = train_contrastive(model, images, captions, bundle.tokenizer,
                                   bundle.preprocess_train, config)
        if rank == 0:
            params = trainable_parameters(model)
            out.write_text(json.dumps({
                "world_size": n_ranks, "losses": result.losses,
                "param_sums": {k: float(v.detach().double().sum()) for k, v in params.items()},
            }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
