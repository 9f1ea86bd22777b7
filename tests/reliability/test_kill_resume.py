"""SIGKILL each heavy stage mid-way, run it again, and compare with an uninterrupted run.

Each stage runs in a child process (``kill_worker.py``) that blocks at a known hang point and
is killed there with a real SIGKILL: no ``finally``, no ``atexit``, no rollback by Python. The
heavy stages are forked from the test process (torch is already imported: a fresh interpreter
costs ~30 s on this loaded machine); ingestion runs the script itself in a new interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
from react_assets.metadata.sql import count_pair_integrity, select_shard_pairs
from shard_factory import good_samples, write_shard

import react_assets.customize.train  # noqa: F401

# Imported here so that the forked workers inherit them instead of importing open_clip each.
import react_assets.evaluate.domain  # noqa: F401
import react_assets.models  # noqa: F401
from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.domains.registry import register_domains
from react_assets.files.paths import ReactPaths
from react_assets.index.files import load_index
from react_assets.metadata import Store, open_store

from . import kill_worker as kw

WORKER = Path(kw.__file__)


def temporaries(folder: Path) -> list[Path]:
    """Every temporary file the atomic writer could have left under ``folder``."""
    return sorted(folder.rglob("*.tmp"))


def table_rows(store: Store, table: str) -> list[tuple]:
    """Every row of a table in a stable order (test helper; ``table`` is one of ours)."""
    assert table in {"pairs", "shards", "skipped_samples", "evaluations"}
    with store.connect() as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)  # noqa: S608


def home(root: Path) -> tuple[ReactPaths, Store]:
    paths = ReactPaths(root).create()
    store = open_store(paths.root)
    store.apply_schema()
    return paths, store


def run_script(stage: str, params: dict, params_file: Path) -> subprocess.Popen:
    params_file.write_text(json.dumps(params))
    return subprocess.Popen([sys.executable, str(WORKER), stage, str(params_file)])


@pytest.mark.slow
def test_killed_ingestion_keeps_the_old_rows_and_a_rerun_matches(tmp_path):
    """A shard re-ingested with more samples is killed inside its DuckDB transaction."""
    old_tar = write_shard(tmp_path / "old" / "s.tar", good_samples(5, source="old"))
    new_tar = write_shard(tmp_path / "new" / "s.tar", good_samples(30, source="new"))
    killed_paths, killed = home(tmp_path / "killed")
    _, whole = home(tmp_path / "whole")
    for store in (killed, whole):
        ingest_shard(old_tar, "s", store, IngestConfig(workers=1))
    before = {t: table_rows(killed, t) for t in ("pairs", "shards")}
    assert len(before["pairs"]) == 5

    params = {"home": str(killed_paths.root), "tar": str(new_tar), "shard_id": "s",
              "hang": True, "marker": str(tmp_path / "ingest.ready")}
    process = run_script("ingest", params, tmp_path / "ingest.json")
    try:
        kw.sigkill_when_ready(_PopenAdapter(process), params["marker"], "ingest")
    finally:
        process.kill()
    # the transaction had deleted the 5 old rows and inserted 30 new ones: none of it is visible
    assert {t: table_rows(killed, t) for t in ("pairs", "shards")} == before

    params |= {"hang": False, "result": str(tmp_path / "ingest-result.json")}
    rerun = run_script("ingest", params, tmp_path / "ingest.json")
    assert rerun.wait(120) == 0
    ingest_shard(new_tar, "s", whole, IngestConfig(workers=1, allow_replace=True))
    resumed_pairs = killed.fetch(select_shard_pairs, {"shard_id": "s"})
    assert len(resumed_pairs) == 30 and {p["source"] for p in resumed_pairs} == {"new"}
    assert resumed_pairs == whole.fetch(select_shard_pairs, {"shard_id": "s"})
    assert killed.fetch(count_pair_integrity) == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]
    assert json.loads(Path(params["result"]).read_text()) == {"n_pairs": 30}


class _PopenAdapter:
    """Gives a ``subprocess.Popen`` the ``exitcode``/``join``/``kill`` of a multiprocessing one."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen, self.pid = popen, popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def join(self, timeout: float) -> None:
        self.popen.wait(timeout)

    def kill(self) -> None:
        self.popen.kill()


@pytest.mark.slow
def test_killed_embedding_resumes_its_chunks_and_gives_identical_files(tmp_path):
    shard = write_shard(tmp_path / "e.tar", good_samples(40))
    paths, store = home(tmp_path / "home")
    ingest_shard(shard, "e", store, IngestConfig(workers=1))
    common = {"home": str(paths.root), "tar": str(shard), "shard_id": "e", "chunk_rows": 8}
    whole = kw.run_forked("embed", common | {"out_dir": str(tmp_path / "whole"),
                                             "result": str(tmp_path / "whole.json")})
    assert whole == {"resumed_chunks": 0, "n_rows": 40, "skipped_complete": False}

    out = tmp_path / "killed"
    marker = tmp_path / "embed.ready"
    # 2 image batches per chunk of 8 rows: batch 5 is the 2nd batch of chunk 2
    process = kw.fork_stage("embed", common | {"out_dir": str(out), "hang": True,
                                               "hang_batch": 5, "marker": str(marker)})
    kw.sigkill_when_ready(process, marker, "embed")
    assert sorted(p.name for p in (out / "parts").glob("*.npy")) == [
        "img-00000.npy", "img-00001.npy", "txt-00000.npy", "txt-00001.npy"]
    assert not any((out / name).exists() for name in ("img_emb.npy", "meta.json"))

    resumed = kw.run_forked("embed", common | {"out_dir": str(out),
                                               "result": str(tmp_path / "resumed.json")})
    assert resumed == {"resumed_chunks": 2, "n_rows": 40, "skipped_complete": False}
    for name in ("img_emb.npy", "text_emb.npy", "pair_ids.npy"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert not list((out / "parts").glob("*.npy"))
    assert temporaries(tmp_path) == []


@pytest.mark.slow
def test_killed_index_save_leaves_no_partial_index_and_a_rerun_matches(tmp_path):
    whole = tmp_path / "whole" / "corpus.faiss"
    kw.run_forked("index", {"path": str(whole), "workdir": str(tmp_path / "w1"),
                            "result": str(tmp_path / "whole.json")})
    target = tmp_path / "killed" / "corpus.faiss"
    marker = tmp_path / "index.ready"
    process = kw.fork_stage("index", {"path": str(target), "workdir": str(tmp_path / "w2"),
                                      "hang": True, "marker": str(marker)})
    kw.sigkill_when_ready(process, marker, "index")
    # killed after faiss filled the temporary file, before the rename: no index at the target
    assert not target.exists() and not Path(f"{target}.json").exists()
    stale = temporaries(target.parent)
    assert len(stale) == 1 and stale[0].stat().st_size > 0

    resumed = kw.run_forked("index", {"path": str(target), "workdir": str(tmp_path / "w2"),
                                      "result": str(tmp_path / "resumed.json")})
    assert temporaries(tmp_path) == []  # the dead writer's temporary file was swept
    assert resumed == json.loads((tmp_path / "whole.json").read_text())
    assert resumed["factory"] == "IVF16,SQ8" and resumed["ntotal"] == 3000
    a, b = load_index(whole), load_index(target)
    assert (a.factory, a.params, a.n_vectors) == (b.factory, b.params, b.n_vectors)
    queries = np.concatenate([x for _, x in kw.index_shards()])[::37].astype(np.float32)
    faiss.omp_set_num_threads(1)
    scores_a, ids_a = a.index.search(queries, 10)
    scores_b, ids_b = b.index.search(queries, 10)
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_array_equal(scores_a, scores_b)
    assert whole.read_bytes() == target.read_bytes()


@pytest.mark.slow
def test_killed_training_resumes_from_its_checkpoint_with_identical_weights(tmp_path):
    common = {"checkpoint_every": 2}
    whole = kw.run_forked("train", common | {
        "checkpoint_dir": str(tmp_path / "whole"), "weights": str(tmp_path / "whole.pt"),
        "result": str(tmp_path / "whole.json")})
    assert whole["start_step"] == 0 and whole["steps"] == 9

    ckpt = tmp_path / "killed"
    marker = tmp_path / "train.ready"
    process = kw.fork_stage("train", common | {
        "checkpoint_dir": str(ckpt), "weights": str(tmp_path / "killed.pt"), "hang": True,
        "hang_step": 5, "marker": str(marker)})
    kw.sigkill_when_ready(process, marker, "train")
    assert torch.load(ckpt / "last.pt", weights_only=True)["step"] == 4

    resumed = kw.run_forked("train", common | {
        "checkpoint_dir": str(ckpt), "weights": str(tmp_path / "killed.pt"),
        "result": str(tmp_path / "resumed.json")})
    assert resumed["start_step"] == 4 and resumed["steps"] == 9
    assert resumed["losses"] == whole["losses"]
    a = torch.load(tmp_path / "whole.pt", weights_only=True)
    b = torch.load(tmp_path / "killed.pt", weights_only=True)
    assert set(a) == set(b) and len(a) > 0
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert any(float(a[n].abs().max()) > 0 for n in a if n.endswith("alpha_attn"))
    assert temporaries(tmp_path) == []


def color_domain(root: Path) -> Path:
    """A domain spec with one 3-class image-folder dataset of solid colours."""
    from PIL import Image

    colors = {"red": (230, 20, 20), "green": (20, 210, 30), "blue": (20, 30, 230)}
    for name, rgb in colors.items():
        for i in range(3):
            path = root / "eval" / "colors" / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (24, 24), tuple(max(0, c - 30 * i) for c in rgb)).save(path)
    spec = root / "domains.json"
    spec.write_text(json.dumps({"domains": [{
        "name": "colors", "classes": list(colors), "templates": ["a photo of {}.", "{} things."],
        "datasets": [{"name": "colors-test", "path": "eval/colors", "metric": "accuracy"}]}]}))
    return spec


@pytest.mark.slow
def test_killed_evaluation_leaves_the_table_as_before_and_a_rerun_agrees(tmp_path):
    paths, store = home(tmp_path / "home")
    register_domains(store, color_domain(tmp_path))
    params = {"home": str(paths.root), "domain": "colors"}
    first = kw.run_forked("evaluate", params | {"result": str(tmp_path / "first.json")})
    assert first["n_rows"] == 2 and set(first["figures"]) == {
        "tiny-base/colors-test", "tiny-other/colors-test"}
    before = table_rows(store, "evaluations")
    assert len(before) == 2

    marker = tmp_path / "eval.ready"
    process = kw.fork_stage("evaluate", params | {"hang": True, "marker": str(marker)})
    kw.sigkill_when_ready(process, marker, "evaluate")
    assert table_rows(store, "evaluations") == before  # timestamps included: nothing changed

    again = kw.run_forked("evaluate", params | {"result": str(tmp_path / "again.json")})
    assert again == first
    after = table_rows(store, "evaluations")
    value = [r[:8] for r in after]  # every column but details and evaluated_at
    assert value == [r[:8] for r in before]
