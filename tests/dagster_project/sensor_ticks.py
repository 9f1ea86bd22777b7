"""Helpers of the sensor tests: a tick checked to change nothing in REACT_HOME, the run the daemon
would launch for a request, and landed shards."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import dagster as dg
from shard_factory import good_samples, write_shard

from dagster_project.resources import ReactHomeResource
from react_assets.files.paths import ReactPaths


def tick(sensor, instance, home: ReactPaths, cursor: str | None = None) -> dg.SensorResult:
    """One evaluation, checked to leave every file and folder of REACT_HOME as it was."""
    before = snapshot(home.root)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, sensor_name=sensor.name,
        resources={"react_home": ReactHomeResource(root=str(home.root))})
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert snapshot(home.root) == before, "a tick changed REACT_HOME"
    return result


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): type, bytes or link target, mtime."""
    entries = {}
    for folder, names, files in os.walk(root):
        for name in [*names, *files]:
            path = Path(folder) / name
            st = path.lstat()
            content = (os.readlink(path) if path.is_symlink()
                       else path.read_bytes() if path.is_file() else None)
            entries[str(path.relative_to(root))] = (st.st_mode, content, st.st_mtime_ns)
    return entries


def apply_partitions(instance, result: dg.SensorResult) -> None:
    """What the sensor daemon does with the tick's dynamic partition requests."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def run(defs, instance, request: dg.RunRequest, raise_on_error: bool = True):
    """The run the daemon would launch for ``request``."""
    return defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, partition_key=request.partition_key, run_config=request.run_config,
        asset_selection=request.asset_selection, raise_on_error=raise_on_error)


def land(home: ReactPaths, name: str, age_s: float, parquet: bool = True, n: int = 2) -> Path:
    tar = write_shard(home.landing / f"{name}.tar", good_samples(n, source=name))
    files = [tar]
    if parquet:
        files.append(tar.with_suffix(".parquet"))
        files[-1].write_bytes(b"PAR1")
    age(*files, seconds=age_s)
    return tar


def age(*paths: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for path in paths:
        os.utime(path, (stamp, stamp), follow_symlinks=False)


def shard_id_of(tar_bytes: bytes, stem: str) -> str:
    return f"{stem}-{hashlib.sha256(tar_bytes).hexdigest()[:12]}"


def recording(read, calls: list):
    """``read`` that first notes the path it was asked to open."""
    def wrapper(path, *args):
        calls.append(path)
        return read(path, *args)
    return wrapper


def record(instance, asset: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))
