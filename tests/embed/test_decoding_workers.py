"""Decoding workers start by fork even where the host process's default is spawn (a Dask worker):
spawned workers import torch again, seconds each, for every shard a step embeds."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = textwrap.dedent("""
    import multiprocessing
    import sys

    import torch
    from torch.utils.data import Dataset

    from react_assets.embed.encode import EmbeddingConfig, _encode_images


    class MainProbe(Dataset):
        # 1.0 in a spawned worker: spawn re-runs this script as __mp_main__, fork copies the parent
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return torch.tensor([float(sys.modules["__main__"].__name__ == "__mp_main__"), 1.0])


    class Identity(torch.nn.Module):
        def encode_image(self, x):
            return x


    if __name__ == "__main__":
        multiprocessing.set_start_method("spawn", force=True)  # as in a Dask worker
        config = EmbeddingConfig(batch_size=2, workers=2, bf16="off")
        feats = _encode_images(Identity(), MainProbe(), range(6), config)
        print("spawned" if feats[:, 0].any() else "forked")
""")


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the start method on Linux only")
def test_decoding_workers_fork_under_a_spawn_default(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "forked"
