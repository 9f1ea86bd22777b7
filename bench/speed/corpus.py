"""Ingestion and embedding throughput on real shards, against what a user would write instead.

Usage: python -m bench.speed.corpus --shards var/shards [--limit 2] [--arch react-mini-clip]
       [--pretrained local-dir:...]

* ingestion (validate every sample, record pairs in DuckDB) vs a plain webdataset loop that
  decodes every image with PIL (no validation, no database);
* embedding (``embed_shard``: worker processes, distinct captions encoded once, chunked) vs a
  plain single-process open_clip loop over the same shard (decode, preprocess, encode in batches).
Prints a table and writes bench/results/corpus.json.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from PIL import Image

from bench.common.results import add_results_dir, write_result
from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.pairs import shard_rows
from react_assets.embed.encode import EmbeddingConfig, embed_shard
from react_assets.metadata import open_store
from react_assets.models.factory import BaseModelConfig, create_base_model


def plain_webdataset_decode(tar: Path) -> int:
    """What a user would write: iterate the shard with webdataset, decode each image with PIL."""
    n = 0
    for sample in wds.WebDataset(str(tar), shardshuffle=False):
        key = next(k for k in ("png", "jpg", "jpeg", "webp") if k in sample)
        Image.open(io.BytesIO(sample[key])).convert("RGB")
        sample["txt"].decode("utf-8")
        n += 1
    return n


@torch.inference_mode()
def plain_open_clip_loop(tar: Path, bundle, batch_size: int) -> int:
    """A single-process open_clip loop: decode, preprocess and encode images and captions."""
    images, captions, n = [], [], 0

    def flush() -> None:
        bundle.model.encode_image(torch.stack(images), normalize=True)
        bundle.model.encode_text(bundle.tokenizer(captions), normalize=True)
        images.clear()
        captions.clear()

    for sample in wds.WebDataset(str(tar), shardshuffle=False):
        key = next(k for k in ("png", "jpg", "jpeg", "webp") if k in sample)
        images.append(bundle.preprocess_val(Image.open(io.BytesIO(sample[key])).convert("RGB")))
        captions.append(sample["txt"].decode("utf-8"))
        n += 1
        if len(images) == batch_size:
            flush()
    if images:
        flush()
    return n


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, default=Path("var/shards"))
    parser.add_argument("--limit", type=int, default=2, help="number of shards to use")
    parser.add_argument("--arch", default="react-mini-clip")
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    tars = sorted(args.shards.glob("*.tar"))[: args.limit]
    if not tars:
        raise SystemExit(f"no shards in {args.shards}: run ./scripts/demo.sh first")
    bundle = create_base_model(BaseModelConfig(arch=args.arch, pretrained=args.pretrained))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp))
        store.apply_schema()
        for tar in tars:
            t_ingest, report = timed(ingest_shard, tar, tar.stem, store,
                                     IngestConfig(workers=args.workers))
            t_plain, n_plain = timed(plain_webdataset_decode, tar)
            shard = shard_rows(store, tar.stem, tar)
            config = EmbeddingConfig(batch_size=args.batch_size, workers=args.workers)
            t_embed, _ = timed(embed_shard, shard, bundle.model, bundle.preprocess_val,
                               bundle.tokenizer, Path(tmp) / tar.stem, config, bundle.model_id)
            t_loop, n_loop = timed(plain_open_clip_loop, tar, bundle, args.batch_size)
            rows.append({
                "shard": tar.stem, "pairs": report.n_pairs,
                "ingest_pairs_per_s": report.n_pairs / t_ingest,
                "plain_decode_pairs_per_s": n_plain / t_plain,
                "embed_pairs_per_s": report.n_pairs / t_embed,
                "plain_open_clip_pairs_per_s": n_loop / t_loop,
            })
            print(f"{tar.stem}: ingest {rows[-1]['ingest_pairs_per_s']:.0f}/s "
                  f"(plain decode {rows[-1]['plain_decode_pairs_per_s']:.0f}/s), "
                  f"embed {rows[-1]['embed_pairs_per_s']:.0f}/s "
                  f"(plain open_clip loop {rows[-1]['plain_open_clip_pairs_per_s']:.0f}/s)")
    summary = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key.endswith("_s")}
    summary["embed_speedup_vs_plain_loop"] = (summary["embed_pairs_per_s"]
                                              / summary["plain_open_clip_pairs_per_s"])
    summary["ingest_vs_plain_decode"] = (summary["ingest_pairs_per_s"]
                                         / summary["plain_decode_pairs_per_s"])
    print({k: round(v, 2) for k, v in summary.items()})
    report = {"model_id": bundle.model_id, "torch_threads": torch.get_num_threads(),
              "shards": rows, "summary": summary}
    print(f"wrote {write_result('corpus', report, directory=args.results_dir)}")
    return report


if __name__ == "__main__":
    main()
