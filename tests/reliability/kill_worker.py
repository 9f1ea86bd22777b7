"""Runs one heavy pipeline stage so that a test can SIGKILL it mid-way and run it again.

Usage: ``python kill_worker.py <stage> <params.json>`` (or :func:`run_stage` in a forked child,
which skips re-importing torch on a loaded machine). Stages: ingest, embed, index, train,
evaluate. ``params["hang"]`` (optional) names the point at which the stage writes
``params["marker"]`` and then blocks, so the test kills it at a known place; without it the
stage runs to completion and writes its figures to ``params["result"]`` (JSON).

Hang points (each chosen where a partial write would do the most harm):

- ingest: inside the metadata transaction, after the shard's old rows were deleted and the new
  ones inserted, before the shard row and the COMMIT;
- embed: on the n-th image batch (``hang_batch``), after some chunks were written;
- index: after ``faiss.write_index`` filled the temporary file, before the rename;
- train: at step ``hang_step`` (after the checkpoint of an earlier step);
- evaluate: inside the metadata transaction, while the domain's figures are written.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("kill_worker")

STAGES = ("ingest", "embed", "index", "train", "evaluate")


def hang_here(marker: str) -> None:
    """Tell the test we reached the hang point, then block until killed."""
    Path(marker).write_text("ready", encoding="utf-8")
    time.sleep(3600)
    raise RuntimeError("kill_worker: nobody killed me within an hour")


def _store(params: dict[str, Any]):
    """The worker's store; with ``hang``, it blocks inside the open transaction that runs the
    statement named by ``params["hang_statement"]``, so the kill lands mid-write."""
    from react_assets.metadata import Catalog, Store

    class _HangingConnection:
        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def execute(self, statement: Any, *args: Any) -> Any:
            if getattr(statement, "name", None) == params["hang_statement"]:
                hang_here(params["marker"])
            return self._conn.execute(statement, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

    class _HangingStore(Store):
        def write(self, work, **kwargs):
            return super().write(lambda conn: work(_HangingConnection(conn)), **kwargs)

    store = (_HangingStore if params.get("hang") else Store)(Catalog(Path(params["home"]).resolve()))
    store.apply_schema()
    return store


def run_ingest(params: dict[str, Any]) -> dict[str, Any]:
    """Ingest one shard into a DuckDB file."""
    from react_assets.corpus import ingest

    store = _store(params | {"hang_statement": "upsert_shard"})
    store.apply_schema()
    report = ingest.ingest_shard(params["tar"], params["shard_id"], store,
                                 ingest.IngestConfig(workers=1, allow_replace=True))
    return {"n_pairs": report.n_pairs}


def _tiny_bundle(init_seed: int = 0):
    import torch

    from react_assets.models.factory import BaseModelConfig, create_base_model

    torch.set_num_threads(1)  # bit-reproducible, and safe in a forked child
    return create_base_model(BaseModelConfig(arch="react-tiny", init_seed=init_seed))


class _HangingModel:
    """Forwards to a CLIP model; blocks on image batch number ``hang_batch`` (0-based)."""

    def __init__(self, model: Any, hang_batch: int, marker: str) -> None:
        self.model, self.left, self.marker = model, hang_batch, marker

    @property
    def training(self) -> bool:
        return self.model.training

    def train(self, mode: bool = True) -> _HangingModel:
        self.model.train(mode)
        return self

    def eval(self) -> _HangingModel:
        return self.train(False)

    def encode_image(self, x: Any) -> Any:
        if self.left == 0:
            hang_here(self.marker)
        self.left -= 1
        return self.model.encode_image(x)

    def encode_text(self, tokens: Any) -> Any:
        return self.model.encode_text(tokens)


def run_embed(params: dict[str, Any]) -> dict[str, Any]:
    """Embed one ingested shard in chunks."""
    from react_assets.corpus.pairs import shard_rows
    from react_assets.embed.encode import EmbeddingConfig, embed_shard
    from react_assets.metadata import open_store

    bundle = _tiny_bundle()
    model = bundle.model
    if params.get("hang"):
        model = _HangingModel(model, params["hang_batch"], params["marker"])
    # ``rows``: the shard's rows read by the parent (a forked child under a file-size limit
    # cannot open the metadata catalog, whose SQLite WAL index alone is 32 KiB).
    rows = params.get("rows") or shard_rows(open_store(params["home"]), params["shard_id"],
                                            Path(params["tar"]))
    config = EmbeddingConfig(batch_size=4, text_batch_size=8, workers=0,
                             chunk_rows=params["chunk_rows"])
    result = embed_shard(rows, model, bundle.preprocess_val, bundle.tokenizer,
                         Path(params["out_dir"]), config, bundle.model_id)
    return {"resumed_chunks": result.resumed_chunks, "n_rows": result.n_rows,
            "skipped_complete": result.skipped_complete}


def index_shards(n: int = 3000, d: int = 32, n_shards: int = 3) -> list[tuple[Any, Any]]:
    """Deterministic clustered unit vectors split into shards of (pair ids, float16 vectors)."""
    rng = np.random.default_rng(5)
    centroids = rng.standard_normal((24, d))
    x = centroids[rng.integers(0, 24, n)] + rng.standard_normal((n, d)) * 0.5
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
    ids = np.arange(10_000, 10_000 + n, dtype=np.int64)
    bounds = np.linspace(0, n, n_shards + 1).astype(int)
    return [(ids[a:b], x[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def run_index(params: dict[str, Any]) -> dict[str, Any]:
    """Build an IVF index over synthetic shards and save it."""
    import faiss

    from react_assets.index.files import IndexConfig, build_index, save_index

    faiss.omp_set_num_threads(1)
    if params.get("hang"):
        real_write = faiss.write_index

        def write_then_hang(index: Any, path: str) -> None:
            real_write(index, path)
            hang_here(params["marker"])

        faiss.write_index = write_then_hang
    config = IndexConfig(n_tune_queries=100, recall_target=0.9, max_train_per_list=64)
    built = build_index(index_shards(), config, Path(params["workdir"]), factory="IVF16,SQ8")
    save_index(built, params["path"])
    return {"factory": built.factory, "params": built.params, "ntotal": built.index.ntotal}


def training_world(n_per_color: int = 3) -> tuple[list[bytes], list[str]]:
    """Noisy colour patches captioned with their colour (deterministic)."""
    from PIL import Image

    colors = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220),
              "yellow": (230, 220, 30)}
    rng = np.random.default_rng(0)
    images, captions = [], []
    for _ in range(n_per_color):
        for name, rgb in colors.items():
            pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (32, 32, 3)), 0, 255)
            buffer = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
            images.append(buffer.getvalue())
            captions.append(f"a photo of something {name}")
    return images, captions


def run_train(params: dict[str, Any]) -> dict[str, Any]:
    """Train gated blocks of the tiny model; resumes from checkpoint_dir/last.pt."""
    import torch

    from react_assets.customize.gated import CustomizationConfig, customize_model
    from react_assets.customize.train import TrainConfig, train_contrastive

    bundle = _tiny_bundle()
    model = customize_model(bundle.model, CustomizationConfig(variant="gated-image",
                                                              num_gated_blocks=1))
    on_log: Callable[[int, float, float], None] | None = None
    if params.get("hang"):
        def on_log(step: int, loss: float, lr: float) -> None:
            if step == params["hang_step"]:
                hang_here(params["marker"])
    images, captions = training_world()
    config = TrainConfig(epochs=3, batch_size=4, lr=2e-3, warmup_steps=2, num_workers=0,
                         log_every=1, checkpoint_every=params["checkpoint_every"], seed=3,
                         device="cpu")
    result = train_contrastive(model, images, captions, bundle.tokenizer,
                               bundle.preprocess_train, config, Path(params["checkpoint_dir"]),
                               on_log=on_log)
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    torch.save(weights, params["weights"])
    return {"start_step": result.start_step, "steps": result.steps, "losses": result.losses}


def run_evaluate(params: dict[str, Any]) -> dict[str, Any]:
    """Evaluate two tiny models on a registered domain and store the figures."""
    from react_assets.domains.registry import registered_domain
    from react_assets.evaluate import domain as evaluate

    store = _store(params | {"hang_statement": "upsert_evaluations"})
    models = [evaluate.EvaluatedModel("tiny-base", "base", _tiny_bundle(0)),
              evaluate.EvaluatedModel("tiny-other", "gated-image", _tiny_bundle(1),
                                      shares_text_tower=False)]
    evaluation = evaluate.evaluate_domain(registered_domain(store, params["domain"]), models,
                                          batch_size=4)
    n_rows = evaluate.store_domain_evaluation(store, evaluation, models)
    return {"n_rows": n_rows,
            "figures": {f"{m}/{d}": r.value for (m, d), r in sorted(evaluation.zeroshot.items())}}


# --- used by the tests: run a stage in a forked child (torch already imported) and kill it ----

FORK = multiprocessing.get_context("fork")
READY_TIMEOUT_S = 180.0


def fork_stage(stage: str, params: dict[str, Any],
               target: Callable[..., None] | None = None) -> multiprocessing.process.BaseProcess:
    """Start ``run_stage(stage, params)`` (or ``target(stage, params)``) in a forked child."""
    process = FORK.Process(target=target or run_stage, args=(stage, params), daemon=True)
    process.start()
    return process


def run_forked(stage: str, params: dict[str, Any], timeout_s: float = 300.0) -> dict[str, Any]:
    """Run a stage to completion in a forked child; its figures (``params['result']``)."""
    process = fork_stage(stage, params)
    process.join(timeout_s)
    if process.exitcode != 0:
        process.kill()
        raise AssertionError(f"{stage} worker failed: exit code {process.exitcode}")
    return json.loads(Path(params["result"]).read_text(encoding="utf-8"))


def sigkill_when_ready(process: Any, marker: Path | str, what: str) -> None:
    """Wait for the worker's marker, then SIGKILL it and reap it (exit status -SIGKILL)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    marker = Path(marker)
    while not marker.exists():
        if process.exitcode is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{what}: worker never reached its hang point "
                                 f"(exit code {process.exitcode})")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    if process.exitcode != -signal.SIGKILL:
        raise AssertionError(f"{what}: expected death by SIGKILL, got {process.exitcode}")


RUNNERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ingest": run_ingest, "embed": run_embed, "index": run_index, "train": run_train,
    "evaluate": run_evaluate,
}


def run_stage(stage: str, params: dict[str, Any]) -> None:
    """Run ``stage`` with ``params`` and write its figures to ``params['result']``."""
    from react_assets.files.atomic import write_json

    if stage not in RUNNERS:
        raise SystemExit(f"kill_worker: unknown stage {stage!r}; one of {STAGES}")
    figures = RUNNERS[stage](params)
    if params.get("result"):
        write_json(params["result"], figures)


def main(argv: list[str]) -> int:
    """``kill_worker.py <stage> <params.json>``."""
    if len(argv) != 2:
        print(__doc__.splitlines()[2], file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(level=logging.WARNING)
    run_stage(argv[0], json.loads(Path(argv[1]).read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
    sys.exit(main(sys.argv[1:]))
