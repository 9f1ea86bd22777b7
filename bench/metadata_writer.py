"""One metadata writer or reader process, for the concurrent-writers test and benchmark.

``writer BACKEND ROOT SHARD N_COMMITS HOLD_S GO_FILE OUT_JSON``: wait for GO_FILE, then commit
N_COMMITS times a shard's pairs (replacing them) and its shard row, holding each transaction
open HOLD_S seconds (the work a step does between its first and last write); records, per
commit, the wait to enter the transaction and the wall-clock interval it was held.
``reader BACKEND ROOT GO_FILE STOP_FILE OUT_JSON``: query per-shard pair counts until STOP_FILE
appears; records every count seen and any error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pyarrow as pa
from react_assets.metadata.sql import count_pairs_by_source, delete_shard_pairs, insert_pairs, upsert_shard

from react_assets.metadata import open_store

PAIRS_PER_COMMIT = 200


def _pairs(shard_id: str, seed: int) -> pa.Table:
    base = (zlib.crc32(shard_id.encode()) % 10_000) * 1_000_000
    return pa.Table.from_pylist([{
        "pair_id": base + i, "shard_id": shard_id, "ordinal": i, "key": f"{i:09d}",
        "image_member": f"{i:09d}.jpg", "caption": f"caption {seed} {i}", "source": shard_id,
        "width": 8, "height": 8, "image_bytes": 100, "image_sha256": f"{seed:08x}{i:056x}",
        "url": None, "meta": None} for i in range(PAIRS_PER_COMMIT)])


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.005)


def write(backend: str, root: Path, shard_id: str, n_commits: int, hold_s: float,
          go: Path, out: Path) -> None:
    """Commit a shard's metadata ``n_commits`` times; write the timings to ``out``."""
    store = open_store(root, backend)
    _wait_for(go)
    commits = []
    for seed in range(n_commits):
        batch = _pairs(shard_id, seed)
        asked = time.time()
        with store.transaction() as conn:
            entered = time.time()
            conn.execute(delete_shard_pairs, {"shard_id": shard_id})
            conn.register("batch", batch)
            conn.execute(insert_pairs)
            conn.unregister("batch")
            conn.execute(upsert_shard, {
                "shard_id": shard_id, "path": f"{shard_id}.tar", "tar_sha256": f"{seed}",
                "n_members": PAIRS_PER_COMMIT, "n_pairs": PAIRS_PER_COMMIT, "n_skipped": 0,
                "skipped": "{}"})
            time.sleep(hold_s)
        commits.append({"asked": asked, "entered": entered, "done": time.time()})
    out.write_text(json.dumps({"shard_id": shard_id, "commits": commits}))


def read(backend: str, root: Path, go: Path, stop: Path, out: Path) -> None:
    """Query per-shard pair counts until ``stop`` exists; write what was seen to ``out``."""
    store = open_store(root, backend)
    _wait_for(go)
    counts: list[int] = []
    errors: list[str] = []
    while not stop.exists():
        try:
            counts.extend(int(r["n_pairs"]) for r in store.fetch(count_pairs_by_source))
        except Exception as err:  # noqa: BLE001 - every failure is the measurement
            errors.append(f"{type(err).__name__}: {err}")
        time.sleep(0.01)
    out.write_text(json.dumps({"counts": counts, "errors": errors}))


def run_concurrent(backend: str, root: Path, n_writers: int, n_commits: int,
                   hold_s: float) -> dict:
    """Start ``n_writers`` writer processes (one shard each) and a reader, all at one signal;
    return each writer's commits and what the reader saw."""
    root.mkdir(parents=True, exist_ok=True)
    open_store(root, backend)
    go, stop = root / "go", root / "stop"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    script = str(Path(__file__).resolve())
    writers = [subprocess.Popen([sys.executable, script, "writer", backend, str(root),
                                 f"shard-{i}", str(n_commits), str(hold_s), str(go),
                                 str(root / f"writer-{i}.json")], env=env)
               for i in range(n_writers)]
    reader = subprocess.Popen([sys.executable, script, "reader", backend, str(root), str(go),
                               str(stop), str(root / "reader.json")], env=env)
    time.sleep(3.0)  # let every process import and open its store before the signal
    go.write_text("go")
    codes = [w.wait(timeout=600) for w in writers]
    stop.write_text("stop")
    codes.append(reader.wait(timeout=120))
    if any(codes):
        raise RuntimeError(f"a metadata writer or reader process failed: exit codes {codes}")
    return {"writers": [json.loads((root / f"writer-{i}.json").read_text())
                        for i in range(n_writers)],
            "reader": json.loads((root / "reader.json").read_text())}


def summarize(result: dict) -> dict:
    """Lock wait (time to enter a transaction), wall time per writer, and overlap of writers."""
    waits = [c["entered"] - c["asked"] for w in result["writers"] for c in w["commits"]]
    walls = [w["commits"][-1]["done"] - w["commits"][0]["asked"] for w in result["writers"]]
    spans = [(c["entered"], c["done"], i) for i, w in enumerate(result["writers"])
             for c in w["commits"]]
    overlapping = sum(1 for a in spans for b in spans
                      if a[2] < b[2] and a[0] < b[1] and b[0] < a[1])
    start = min(c["asked"] for w in result["writers"] for c in w["commits"])
    end = max(c["done"] for w in result["writers"] for c in w["commits"])
    return {"lock_wait_total_s": sum(waits), "lock_wait_max_s": max(waits),
            "writer_wall_s": walls, "all_writers_wall_s": end - start,
            "overlapping_commit_pairs": overlapping,
            "reader_queries": len(result["reader"]["counts"]),
            "reader_errors": result["reader"]["errors"]}


if __name__ == "__main__":
    role, backend, root, *rest = sys.argv[1:]
    if role == "writer":
        write(backend, Path(root), rest[0], int(rest[1]), float(rest[2]), Path(rest[3]),
              Path(rest[4]))
    else:
        read(backend, Path(root), Path(rest[0]), Path(rest[1]), Path(rest[2]))
