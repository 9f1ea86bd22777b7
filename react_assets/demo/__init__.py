"""The offline demo world: a small real-data REACT world built from locally installed packages.

Entry point: :func:`build_demo_world` with a :class:`DemoWorldConfig`. See docs/demo-world.md.
"""

from __future__ import annotations

from react_assets.demo.config import DemoSourcePaths, DemoWorldConfig
from react_assets.demo.splits import ContaminationError
from react_assets.demo.world import DemoWorld, build_demo_world

__all__ = [
    "ContaminationError", "DemoSourcePaths", "DemoWorld", "DemoWorldConfig", "build_demo_world",
]
