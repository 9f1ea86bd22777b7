"""Data rules of the pipeline as asset checks: each reads DuckDB and files through react_home.

Blocking checks stop a run before a bad result flows downstream (integrity of the corpus, of
the embeddings, of the index and of the retrieved pairs). The zero-shot regression check warns
instead: a customized model that lost accuracy must still reach the leaderboard to be seen.
"""

from pathlib import Path

import dagster as dg
import numpy as np

from dagster_project.assets.corpus import corpus_shards
from dagster_project.assets.embeddings import corpus_embeddings
from dagster_project.assets.evaluation import zeroshot_eval
from dagster_project.assets.index import MODALITIES, knn_index
from dagster_project.assets.retrieval import retrieved_pairs
from dagster_project.resources import ReactHomeResource
from react_assets.evaluation.datasets import dataset_sha256s
from react_assets.pipeline import current_base
from react_assets.registry import registered_domain

# float16 keeps 11 significant bits (unit roundoff 2**-11 ~ 4.9e-4): a unit vector stored in
# float16 has a norm within that of 1; four times it leaves room for the accumulated rounding.
NORM_TOLERANCE = 4 * 2.0**-11
NORM_CHUNK_ROWS = 65_536
EXAMPLES = 10


class MinPairsPerClassConfig(dg.Config):
    """How many distinct retrieved pairs every class of a domain needs at least."""

    min_pairs_per_class: int = 5


class ZeroshotRegressionConfig(dg.Config):
    """Which customized model is compared with the base, and how much worse it may be."""

    model_kind: str = "gated-image"
    tolerance: float = 0.02  # absolute, on the official metric (0..1)


@dg.asset_check(asset=corpus_shards, blocking=True,
                description="Pair ids are unique and every pair belongs to a registered shard.")
def pair_ids_unique_and_attached(react_home: ReactHomeResource) -> dg.AssetCheckResult:
    """Duplicate pair ids and pairs whose shard is missing from ``shards`` (whole corpus)."""
    store = react_home.store()
    counts = store.fetch("count_pair_integrity")[0]
    duplicates = store.fetch("select_duplicate_pair_ids", {"limit": EXAMPLES})
    orphans = store.fetch("select_orphan_pair_shards")
    return dg.AssetCheckResult(
        passed=counts["duplicate_pair_ids"] == 0 and counts["orphan_pairs"] == 0,
        metadata={
            "duplicate_pair_ids": int(counts["duplicate_pair_ids"]),
            "orphan_pairs": int(counts["orphan_pairs"]),
            "duplicate_examples": dg.MetadataValue.json(
                [{"pair_id": int(r["pair_id"]), "rows": int(r["n_rows"]),
                  "shards": list(r["shards"])} for r in duplicates]),
            "orphan_shards": dg.MetadataValue.json(
                {r["shard_id"]: int(r["n_pairs"]) for r in orphans}),
            "queries": "count_pair_integrity, select_duplicate_pair_ids, select_orphan_pair_shards",
        },
    )


def _max_norm_error(path: Path) -> tuple[int, float]:
    """(rows, largest |norm - 1|) of a float16 embedding file, read in chunks (NaN counts as inf)."""
    array = np.load(path, mmap_mode="r")
    worst = 0.0
    for start in range(0, array.shape[0], NORM_CHUNK_ROWS):
        chunk = np.asarray(array[start:start + NORM_CHUNK_ROWS], dtype=np.float32)
        error = np.abs(np.linalg.norm(chunk, axis=1) - 1.0)
        worst = max(worst, float(np.max(np.nan_to_num(error, nan=np.inf), initial=0.0)))
    return int(array.shape[0]), worst


def _embedding_problems(folder: Path, expected_ids: np.ndarray, n_rows: int) -> tuple[
        list[str], dict[str, float]]:
    """Every way the embedding folder disagrees with the shard's pairs, and the norm errors."""
    problems: list[str] = []
    missing = [name for name in ("pair_ids.npy", *MODALITIES.values())
               if not (folder / name).is_file()]
    if missing:
        return [f"{folder}: missing {', '.join(missing)}"], {}
    pair_ids = np.load(folder / "pair_ids.npy")
    if pair_ids.shape != expected_ids.shape or not np.array_equal(pair_ids, expected_ids):
        mismatch = np.flatnonzero(pair_ids[:len(expected_ids)] != expected_ids[:len(pair_ids)])
        first = int(mismatch[0]) if mismatch.size else min(len(pair_ids), len(expected_ids))
        problems.append(f"{folder / 'pair_ids.npy'}: {len(pair_ids)} ids vs {len(expected_ids)} "
                        f"pairs in DuckDB, first difference at row {first}")
    errors: dict[str, float] = {}
    for modality, filename in MODALITIES.items():
        rows, errors[modality] = _max_norm_error(folder / filename)
        if rows != len(expected_ids) or rows != n_rows:
            problems.append(f"{folder / filename}: {rows} rows, expected {len(expected_ids)} "
                            f"(DuckDB pairs) and {n_rows} (embedding_sets)")
        if not errors[modality] <= NORM_TOLERANCE:
            problems.append(f"{folder / filename}: max |norm - 1| = {errors[modality]:.4g} "
                            f"> {NORM_TOLERANCE:.4g}")
    return problems, errors


@dg.asset_check(asset=corpus_embeddings, blocking=True,
                description="Embeddings of the shard are unit-norm and row-aligned with its pairs.")
def embeddings_unit_norm_and_aligned(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource
) -> dg.AssetCheckResult:
    """pair_ids.npy equals the shard's pair ids in ordinal order; every row has norm 1 (float16)."""
    shard_id = context.partition_key
    store = react_home.store()
    model_id = current_base(store).model_id
    sets = store.fetch("select_embedding_set", {"shard_id": shard_id, "model_id": model_id})
    expected = np.array([r["pair_id"] for r in store.fetch("select_shard_pair_ids",
                                                           {"shard_id": shard_id})], dtype=np.int64)
    if not sets:
        problems, errors = [f"shard {shard_id}: no embedding_sets row for model {model_id}"], {}
    else:
        problems, errors = _embedding_problems(Path(sets[0]["folder"]), expected,
                                               int(sets[0]["n_rows"]))
    for problem in problems:
        context.log.error(problem)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "shard": shard_id, "model_id": model_id, "pairs_in_duckdb": len(expected),
        **{f"{m}_max_norm_error": round(e, 6) for m, e in errors.items()},
        "norm_tolerance": NORM_TOLERANCE, "problems": dg.MetadataValue.json(problems),
    })


@dg.asset_check(asset=knn_index, blocking=True,
                description="The measured recall of each modality's index meets its target.")
def recall_meets_target(react_home: ReactHomeResource) -> dg.AssetCheckResult:
    """From the indexes table: recall >= recall_target and the index file exists, per modality."""
    store = react_home.store()
    model_id = current_base(store).model_id
    metadata: dict = {"model_id": model_id}
    problems: list[str] = []
    for modality in MODALITIES:
        rows = store.fetch("select_index", {"model_id": model_id, "modality": modality})
        if not rows:
            problems.append(f"{modality}: no index recorded for model {model_id}")
            continue
        row = rows[0]
        metadata[f"{modality}_recall"] = round(float(row["recall"]), 4)
        metadata[f"{modality}_recall_target"] = float(row["recall_target"])
        metadata[f"{modality}_factory"] = row["factory"]
        if not row["recall"] >= row["recall_target"]:
            problems.append(f"{modality}: recall {row['recall']:.4f} < target "
                            f"{row['recall_target']:.4f} ({row['factory']})")
        if not Path(row["path"]).is_file():
            problems.append(f"{modality}: index file {row['path']} does not exist")
    metadata["problems"] = dg.MetadataValue.json(problems)
    return dg.AssetCheckResult(passed=not problems, metadata=metadata)


@dg.asset_check(asset=retrieved_pairs, blocking=True,
                description="Every class of the domain has at least the minimum of retrieved pairs.")
def min_pairs_per_class(
    context: dg.AssetCheckExecutionContext, config: MinPairsPerClassConfig,
    react_home: ReactHomeResource,
) -> dg.AssetCheckResult:
    """Distinct retrieved pairs per class (a class with none counts 0) against the minimum."""
    domain = context.partition_key
    store = react_home.store()
    spec = registered_domain(store, domain).spec
    found = {r["class_name"]: int(r["n_pairs"])
             for r in store.fetch("count_domain_retrievals_by_class", {"domain": domain})}
    per_class = {name: found.get(name, 0) for name in spec.classes}
    short = {name: n for name, n in per_class.items() if n < config.min_pairs_per_class}
    return dg.AssetCheckResult(passed=not short, metadata={
        "domain": domain, "min_pairs_per_class": config.min_pairs_per_class,
        "fewest": min(per_class.values(), default=0),
        "classes_below_minimum": dg.MetadataValue.json(short),
        "per_class": dg.MetadataValue.json(per_class),
    })


@dg.asset_check(asset=retrieved_pairs, blocking=True,
                description="No retrieved pair's image is byte-identical to an evaluation image.")
def no_evaluation_images(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource
) -> dg.AssetCheckResult:
    """Image sha256 of every retrieved pair against every image of the domain's datasets and of
    the general sets (which measure forgetting)."""
    domain = context.partition_key
    store = react_home.store()
    datasets = registered_domain(store, domain).evaluation_datasets
    eval_hashes: set[str] = set()
    for dataset in datasets:
        eval_hashes |= dataset_sha256s(dataset)
    rows = store.fetch("select_domain_retrieval_hashes", {"domain": domain})
    dangling = sorted({int(r["pair_id"]) for r in rows if r["image_sha256"] is None})
    leaked = [r for r in rows if r["image_sha256"] in eval_hashes]
    return dg.AssetCheckResult(passed=not leaked and not dangling, metadata={
        "domain": domain, "retrieved_pairs": len({r["pair_id"] for r in rows}),
        "evaluation_images": len(eval_hashes),
        "datasets": ", ".join(d.name for d in datasets),
        "contaminated_pairs": len({r["pair_id"] for r in leaked}),
        "contaminated_examples": dg.MetadataValue.json(
            [{"pair_id": int(r["pair_id"]), "class": r["class_name"], "shard": r["shard_id"],
              "key": r["key"]} for r in leaked[:EXAMPLES]]),
        "pairs_missing_from_corpus": dg.MetadataValue.json(dangling[:EXAMPLES]),
    })


@dg.asset_check(asset=zeroshot_eval, blocking=False,
                description="The customized model is not worse than the base on the domain's "
                            "own datasets beyond a tolerance.")
def customized_not_worse_than_base(
    context: dg.AssetCheckExecutionContext, config: ZeroshotRegressionConfig,
    react_home: ReactHomeResource,
) -> dg.AssetCheckResult:
    """Per domain dataset: customized - base >= -tolerance on the official metric (a WARN)."""
    domain = context.partition_key
    store = react_home.store()
    spec = registered_domain(store, domain).spec
    figures = {(r["model_kind"], r["dataset"]): float(r["value"])
               for r in store.fetch("select_domain_zeroshot_figures", {"domain": domain})}
    gains: dict[str, float] = {}
    problems: list[str] = []
    for dataset in spec.datasets:
        base = figures.get(("base", dataset.name))
        custom = figures.get((config.model_kind, dataset.name))
        if base is None or custom is None:
            problems.append(f"{dataset.name}: no figure for "
                            f"{'base' if base is None else config.model_kind}")
            continue
        gains[dataset.name] = round(custom - base, 4)
        if custom - base < -config.tolerance:
            problems.append(f"{dataset.name}: {config.model_kind} {custom:.4f} < base "
                            f"{base:.4f} - {config.tolerance}")
    if not spec.datasets:
        problems.append(f"domain {domain} declares no evaluation dataset")
    return dg.AssetCheckResult(
        passed=not problems, severity=dg.AssetCheckSeverity.WARN,
        metadata={"domain": domain, "model_kind": config.model_kind,
                  "tolerance": config.tolerance, "gain_by_dataset": dg.MetadataValue.json(gains),
                  "problems": dg.MetadataValue.json(problems)},
    )


ALL_CHECKS = [pair_ids_unique_and_attached, embeddings_unit_norm_and_aligned, recall_meets_target,
              min_pairs_per_class, no_evaluation_images, customized_not_worse_than_base]
