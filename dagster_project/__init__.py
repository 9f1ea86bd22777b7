"""Orchestration of the REACT library as Dagster software-defined assets."""

import os
from importlib import resources


def _offline_env() -> dict[str, str]:
    text = resources.files(__name__).joinpath("offline.env").read_text(encoding="utf-8")
    pairs = (line.split("=", 1) for line in text.splitlines()
             if line.strip() and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


# Offline and no telemetry (dagster_project/offline.env): set before any library import reads them.
OFFLINE_ENV = _offline_env()
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)
