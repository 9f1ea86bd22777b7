"""Training over 2 processes (torch.distributed, gloo): the same loss curve and weights as one
process on the same global batch, within float tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devtools.dagster_server import free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ddp_train.py")


def _run(args: list[str], out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *args, str(out)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_two_gloo_processes_follow_the_single_process_loss_curve(tmp_path: Path) -> None:
    single = _run([str(SCRIPT)], tmp_path / "one.json")
    double = _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                   "127.0.0.1", "--master_port", str(free_port()), str(SCRIPT)],
                  tmp_path / "two.json")
    assert (single["world_size"], double["world_size"]) == (1, 2)
    assert len(single["losses"]) == len(double["losses"]) == 12  # 3 epochs x 32/8 steps
    np.testing.assert_allclose(double["losses"], single["losses"], rtol=1e-4, atol=1e-5)
    assert single["losses"][-1] < single["losses"][0]
    assert single["param_sums"].keys() == double["param_sums"].keys()
    np.testing.assert_allclose([double["param_sums"][k] for k in sorted(single["param_sums"])],
                               [single["param_sums"][k] for k in sorted(single["param_sums"])],
                               rtol=1e-4, atol=1e-4)
