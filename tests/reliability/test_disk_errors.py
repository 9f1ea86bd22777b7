"""Disk errors: an unusable or read-only REACT_HOME, and a full disk in the middle of a write.

Tests run as root here, and root ignores permission bits, so "unwritable" is made three ways
that root cannot bypass: a root under a regular file (ENOTDIR), a read-only bind mount inside a
private mount namespace (``unshare -m``: EROFS, invisible to the rest of the machine), and
``RLIMIT_FSIZE`` in a forked child with SIGXFSZ ignored (writes past the limit fail with EFBIG,
as on a full disk). Each time the error names the path, and what was committed before is intact.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from react_assets.metadata.sql import count_pair_integrity, select_shard_pairs
from shard_factory import good_samples, write_shard

import react_assets.models  # noqa: F401  (imported once here, inherited by the forked workers)
from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.pairs import shard_rows
from react_assets.files.atomic import save_npy, write_json
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store

from . import kill_worker as kw


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _with_file_size_limit(limit: int, error_file: str):
    """A fork target: run a stage with RLIMIT_FSIZE=limit; record the error it raised."""

    def target(stage: str, params: dict) -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death by SIGXFSZ
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        try:
            kw.run_stage(stage, params)
        except Exception as err:  # noqa: BLE001 - the test inspects it
            Path(error_file).write_text(f"{type(err).__name__}: {err}", encoding="utf-8")
            os._exit(3)

    return target


def run_with_file_size_limit(stage: str, params: dict, limit: int, tmp_path: Path) -> str:
    """Run a stage under a file-size limit; it must fail. Returns its error message."""
    error_file = tmp_path / f"{stage}.error"
    process = kw.fork_stage(stage, params, target=_with_file_size_limit(limit, str(error_file)))
    process.join(300)
    assert process.exitcode == 3, f"{stage} under RLIMIT_FSIZE={limit}: exit {process.exitcode}"
    return error_file.read_text(encoding="utf-8")


def test_react_home_under_a_regular_file_is_refused_naming_the_path(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    root = blocker / "react-home"
    with pytest.raises(OSError) as caught:
        ReactPaths(root).create()
    assert caught.value.errno == errno.ENOTDIR and str(root) in str(caught.value)
    with pytest.raises(OSError, match=re.escape(f"cannot write {blocker / 'x.json'}")):
        write_json(blocker / "x.json", {"a": 1})  # mkdir of its folder fails: a file is there
    assert blocker.read_text() == "a file where a folder should be"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_read_only_react_home_keeps_committed_outputs(tmp_path):
    """A read-only bind mount of a REACT_HOME that holds an npy and DuckDB rows."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a read-only bind mount")
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no private mount namespace (unshare -m) on this machine")
    paths = ReactPaths(tmp_path / "react-home").create()
    store = open_store(paths.root)
    store.apply_schema()
    ingest_shard(write_shard(tmp_path / "s.tar", good_samples(6)), "s", store,
                 IngestConfig(workers=1))
    npy = paths.embeddings / "s" / "img_emb.npy"
    save_npy(npy, np.arange(12, dtype=np.float16).reshape(6, 2))
    before = snapshot(paths.root)
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        from pathlib import Path
        from react_assets.files.atomic import save_npy
        from react_assets.corpus.ingest import IngestConfig, ingest_shard
        from react_assets.files.paths import ReactPaths
        from react_assets.metadata import open_store
        root, npy, tar = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
        errors = {}
        for name, call in (
            ("create", lambda: ReactPaths(root).create()),
            ("save_npy", lambda: save_npy(npy, np.zeros((6, 2), np.float16))),
            ("ingest", lambda: ingest_shard(tar, "s", open_store(root),
                                            IngestConfig(workers=1, allow_replace=True))),
        ):
            try:
                call()
                errors[name] = None
            except Exception as err:
                errors[name] = f"{type(err).__name__}: {err}"
        print(json.dumps(errors))
    """)
    bigger = write_shard(tmp_path / "s2.tar", good_samples(9))
    mount = f'mount --bind -o ro "$1" "$1" && exec "{sys.executable}" -c "$2" "$1" "$3" "$4"'
    done = subprocess.run(["unshare", "-m", "sh", "-c", mount, "sh", str(paths.root), script,
                           str(npy), str(bigger)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    errors = json.loads(done.stdout.strip().splitlines()[-1])
    assert errors["create"].startswith("PermissionError") and str(paths.root) in errors["create"]
    assert "Read-only file system" in errors["create"]
    assert "Read-only file system" in errors["save_npy"] and str(npy) in errors["save_npy"]
    assert errors["ingest"] is not None and str(paths.root / "lake") in errors["ingest"]
    assert snapshot(paths.root) == before  # the mount never reached the real folder's files
    assert len(store.fetch(select_shard_pairs, {"shard_id": "s"})) == 6


@pytest.mark.slow
def test_disk_full_while_embedding_keeps_the_previous_embeddings(tmp_path):
    paths = ReactPaths(tmp_path / "react-home").create()
    store = open_store(paths.root)
    store.apply_schema()
    tar = paths.shards / "e.tar"
    write_shard(tar, good_samples(24))
    ingest_shard(tar, "e", store, IngestConfig(workers=1))
    out = paths.embeddings / "e"
    params = {"home": str(paths.root), "tar": str(tar), "shard_id": "e", "chunk_rows": 8,
              "out_dir": str(out), "result": str(tmp_path / "result.json")}
    assert kw.run_forked("embed", params)["n_rows"] == 24
    committed = {k: v for k, v in snapshot(out).items() if not k.startswith("parts")}

    write_shard(tar, good_samples(40))  # the shard grew: its embeddings must be recomputed
    ingest_shard(tar, "e", store, IngestConfig(workers=1, allow_replace=True))
    # 1500 bytes: the 8-row chunks (640 B) fit, the 40-row final files (2.7 kB) do not
    rows = shard_rows(store, "e", tar)
    message = run_with_file_size_limit("embed", params | {"rows": rows}, 1500, tmp_path)
    # np.save itself ignores the failed write; save_npy catches the short file before the rename
    assert f"cannot write {out / 'img_emb.npy'}: short write" in message
    assert {k: v for k, v in snapshot(out).items() if not k.startswith("parts")} == committed
    assert not list(paths.root.rglob("*.tmp"))

    assert kw.run_forked("embed", params) == {"resumed_chunks": 5, "n_rows": 40,
                                              "skipped_complete": False}
    assert np.load(out / "img_emb.npy").shape[0] == 40


@pytest.mark.slow
def test_disk_full_while_ingesting_keeps_the_previous_rows(tmp_path):
    paths = ReactPaths(tmp_path / "react-home").create()
    store = open_store(paths.root)
    store.apply_schema()
    ingest_shard(write_shard(tmp_path / "v1.tar", good_samples(5)), "s", store,
                 IngestConfig(workers=1))
    before = store.fetch(select_shard_pairs, {"shard_id": "s"})
    samples = good_samples(200, source="v2")
    rng = random.Random(0)
    for sample in samples:  # ~600 kB of captions that do not compress: the data file outgrows 64 kB
        sample["caption"] += " " + rng.randbytes(1500).hex()
    tar = write_shard(tmp_path / "v2.tar", samples)
    params = {"home": str(paths.root), "tar": str(tar), "shard_id": "s"}
    message = run_with_file_size_limit("ingest", params, 64 * 1024, tmp_path)
    assert "File too large" in message and str(paths.root / "lake") in message
    assert store.fetch(select_shard_pairs, {"shard_id": "s"}) == before
    assert store.fetch(count_pair_integrity) == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]

    ingest_shard(tar, "s", store, IngestConfig(workers=1, allow_replace=True))
    after = store.fetch(select_shard_pairs, {"shard_id": "s"})
    assert len(after) == 200 and {r["source"] for r in after} == {"v2"}
