"""One JSON file per bench in ``bench/results/``: its figures with the command, date and machine.

``write_result("metadata", figures)`` writes ``bench/results/metadata.json`` as::

    {"bench": "metadata", "command": "python -m bench.speed.metadata --rows 6000",
     "date": "2026-12-07T21:57:42+00:00",
     "machine": {"cpu_model": ..., "isa_flags": [...], "cores": 2, "load_average": [...]},
     "figures": {...}}

``docs/benchmarks.md`` is rendered from these files (``bench.common.render_docs``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
CPUINFO = Path("/proc/cpuinfo")
# The flags that decide which matmul kernels run: 256- and 512-bit vectors, native bf16, AMX.
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")


def write_result(name: str, figures: dict, *, directory: Path | None = None) -> Path:
    """Write ``figures`` with this run's command, date and machine to ``<directory>/<name>.json``
    (``bench/results/`` by default) and return the path."""
    record = {
        "bench": name,
        "command": invocation(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": figures,
    }
    path = (directory or RESULTS_DIR) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def add_results_dir(parser: argparse.ArgumentParser) -> None:
    """The ``--results-dir`` option every bench takes (tests point it at a temporary folder)."""
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where the bench writes <name>.json (default: bench/results)")


def invocation() -> str:
    """The command line that runs this process: ``python -m <module> <args>`` for a module."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:  # a package run as a module names its __main__
        head = f"python -m {spec.name.removesuffix('.__main__')}"
    else:
        head = f"python {Path(sys.argv[0]).name}"
    return " ".join([head, *(shlex.quote(arg) for arg in sys.argv[1:])])


def machine(cpuinfo: Path = CPUINFO) -> dict[str, object]:
    """CPU model, which of ``ISA_FLAGS`` it has, cores, the load average, and the GPU if any."""
    model, flags = _cpu_model_and_flags(cpuinfo)
    description: dict[str, object] = {
        "cpu_model": model,
        "isa_flags": [flag for flag in ISA_FLAGS if flag in flags],
        "cores": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    torch = sys.modules.get("torch")  # named only where the bench already imported torch
    if torch is not None and torch.cuda.is_available():
        description["gpu"] = torch.cuda.get_device_name(0)
    return description


def _cpu_model_and_flags(cpuinfo: Path) -> tuple[str, frozenset[str]]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", frozenset()
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return model, flags
