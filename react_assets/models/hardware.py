"""What the machine offers the numeric stages: cores, CPU flags, bf16 support, thread settings.

bf16 pays on a CPU only where the matmul units take it natively (AVX512-BF16 or AMX); on an
AVX2-only CPU PyTorch emulates it and fp32 is the faster choice, so ``bf16_enabled("auto")`` is
true on CUDA devices and on CPUs with one of those flags, false elsewhere.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import sys
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
# The flags that decide the matmul path: vector width, FMA, and native bf16 / int8 units.
REPORTED_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni",
                  "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_MODES = ("auto", "on", "off")


@functools.cache
def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU feature flags of the first processor in ``cpuinfo`` (empty where unreadable)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        logger.info("cannot read %s (%s): CPU flags unknown", cpuinfo, err)
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16). For this machine
    (``flags`` None), also whether PyTorch's kernels may use those units: not when they are held
    to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, as when reproducing an AVX2-only machine)."""
    if flags is None:
        if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
            return False
        flags = cpu_flags()
    return any(flag in flags for flag in BF16_FLAGS)


def loader_start_method(num_workers: int) -> str | None:
    """The start method for ``num_workers`` DataLoader decoding workers: ``fork`` on Linux,
    whatever the host process's default (a Dask worker's is ``spawn``, which imports torch again
    in every decoding worker, seconds each); None (the platform's default) elsewhere and when
    there are no workers (DataLoader then refuses a start method)."""
    return "fork" if num_workers > 0 and sys.platform == "linux" else None


def bf16_enabled(mode: str, device: torch.device | str,
                 flags: frozenset[str] | None = None) -> bool:
    """Resolve a ``bf16`` setting ("auto", "on", "off") for ``device``.

    "auto" turns bf16 on for CUDA and for CPUs with native bf16 units, off elsewhere.
    """
    if mode not in BF16_MODES:
        raise ValueError(f"bf16={mode!r}: expected one of {BF16_MODES}")
    if mode != "auto":
        return mode == "on"
    kind = torch.device(device).type
    return kind == "cuda" or (kind == "cpu" and cpu_has_native_bf16(flags))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def faiss_threads() -> int | None:
    """faiss's OpenMP thread count (None when faiss is not importable)."""
    try:
        import faiss
    except ImportError:
        return None
    return int(faiss.omp_get_max_threads())


def machine_description() -> dict[str, object]:
    """Cores, CPU model and flags, and the torch / faiss thread settings of this process."""
    flags = cpu_flags()
    model = ""
    try:
        model = next((line.partition(":")[2].strip()
                      for line in CPUINFO.read_text(encoding="utf-8").splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        model = platform.processor()
    return {
        "cores": os.cpu_count(),
        "cores_usable": usable_cores(),
        "cpu_model": model,
        "cpu_flags": sorted(flag for flag in REPORTED_FLAGS if flag in flags),
        "native_bf16": cpu_has_native_bf16(flags),
        "torch_version": torch.__version__,
        "torch_intra_op_threads": torch.get_num_threads(),
        "torch_inter_op_threads": torch.get_num_interop_threads(),
        "faiss_omp_threads": faiss_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
