"""Data rules of the pipeline as asset checks; each calls its stage's contract in the library.

Blocking checks stop a run before a bad result flows downstream (integrity of the corpus, of
the embeddings, of the index and of the retrieved pairs; a domain's champion decided by its
promotion policy, with MLflow's aliases and the metadata agreeing). The zero-shot regression
check warns instead, and so does the champion check when the new version was held as
challenger: a customized model that lost accuracy must still reach the leaderboard to be seen.

The per-shard checks run once per run and check every shard of it (a backfill's run takes a
range of shards): they pass when each shard passes, and name the shards that did not.
"""

import dagster as dg
from pydantic import Field

from dagster_project.assets.corpus import corpus_shards
from dagster_project.assets.embeddings import corpus_embeddings
from dagster_project.assets.evaluation import zeroshot_eval
from dagster_project.assets.index import knn_index
from dagster_project.assets.retrieval import retrieved_pairs
from dagster_project.configs import launch_config, launch_schema
from dagster_project.metadata_tables import records_table
from dagster_project.partitions import shard_partitions
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.corpus import checks as corpus_checks
from react_assets.domains.settings import VARIANTS
from react_assets.embed import checks as embed_checks
from react_assets.evaluate import checks as evaluate_checks
from react_assets.index import checks as index_checks
from react_assets.retrieve import checks as retrieve_checks
from react_assets.tracking.contracts import CheckOutcome, all_of


class MinPairsPerClassConfig(dg.Config):
    """How many distinct retrieved pairs every class of a domain needs at least."""

    min_pairs_per_class: int = Field(default=5, ge=0)


class ShardHasPairsConfig(dg.Config):
    """How much of a shard may be skipped before its ingestion counts as failed."""

    max_skipped_fraction: float = Field(default=0.5, ge=0.0, le=1.0,
                                        description="skipped samples / all samples, at most")


class ZeroshotRegressionConfig(dg.Config):
    """Which customized model is compared with the base, and how much worse it may be."""

    model_kind: str = Field(default="gated-image", description=f"one of {VARIANTS}",
                            json_schema_extra={"choices": list(VARIANTS)})
    tolerance: float = Field(default=0.02, ge=0.0, le=1.0,
                             description="absolute, on the official metric (0..1)")


def _result(outcome: CheckOutcome, **kwargs) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata, **kwargs)


def run_shards(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The shards of the check's run: its partition, or each shard of its partition range.

    Not ``context.partition_keys``: for an unpartitioned check it expands the range with the
    partitions definition of the run's job, and a Dask worker runs each step in the whole
    implicit asset job (dagster-dask subsets it by op only), which has none. The range's ends
    are the run's tags; the shards between them are taken in registration order, Dagster's.
    """
    key_range = context.partition_key_range
    if key_range.start == key_range.end:
        return [key_range.start]
    shards = context.instance.get_dynamic_partitions(shard_partitions.name)
    unknown = [key for key in (key_range.start, key_range.end) if key not in shards]
    if unknown:
        raise ValueError(f"the run's shard range {key_range.start}..{key_range.end} names "
                         f"shards that are not registered: {unknown}")
    return shards[shards.index(key_range.start):shards.index(key_range.end) + 1]


@dg.asset_check(asset=corpus_shards, blocking=True,
                description="Pair ids are unique and every pair belongs to a registered shard.")
def pair_ids_unique_and_attached(react_home: ReactHomeResource) -> dg.AssetCheckResult:
    """Duplicate pair ids and pairs whose shard is missing from ``shards`` (whole corpus)."""
    return _result(corpus_checks.pair_ids_unique_and_attached(react_home.store()))


@dg.asset_check(asset=corpus_shards, blocking=True,
                config_schema=launch_schema(ShardHasPairsConfig),
                description="Each shard of the run gave pairs and most of its samples were not "
                            "skipped.")
def shard_has_pairs(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource
) -> dg.AssetCheckResult:
    """0 pairs, or more than the allowed fraction of samples skipped, in any shard fails the run."""
    config = launch_config(context, ShardHasPairsConfig)
    store = react_home.store()
    return _result(all_of({shard: corpus_checks.shard_has_pairs(store, shard,
                                                                config.max_skipped_fraction)
                           for shard in run_shards(context)}))


@dg.asset_check(asset=corpus_embeddings, blocking=True,
                description="Embeddings of each shard of the run are unit-norm and row-aligned "
                            "with its pairs.")
def embeddings_unit_norm_and_aligned(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource
) -> dg.AssetCheckResult:
    """pair_ids.npy equals the shard's pair ids in ordinal order; every row has norm 1 (float16)."""
    store = react_home.store()
    return _result(all_of({shard: embed_checks.embeddings_unit_norm_and_aligned(store, shard)
                           for shard in run_shards(context)}))


@dg.asset_check(asset=knn_index, blocking=True,
                description="The measured recall of each modality's index meets its target.")
def recall_meets_target(react_home: ReactHomeResource) -> dg.AssetCheckResult:
    """From the indexes table: recall >= recall_target and the index file exists, per modality."""
    return _result(index_checks.recall_meets_target(react_home.store()))


@dg.asset_check(asset=retrieved_pairs, blocking=True,
                config_schema=launch_schema(MinPairsPerClassConfig),
                description="Every class of the domain has at least the minimum of retrieved pairs.")
def min_pairs_per_class(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource
) -> dg.AssetCheckResult:
    """Distinct retrieved pairs per class (a class with none counts 0) against the minimum."""
    config = launch_config(context, MinPairsPerClassConfig)
    return _result(retrieve_checks.min_pairs_per_class(
        react_home.store(), context.partition_key, config.min_pairs_per_class))


@dg.asset_check(asset=retrieved_pairs, blocking=True,
                description="No retrieved pair's image is byte-identical to an evaluation image.")
def no_evaluation_images(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource
) -> dg.AssetCheckResult:
    """Image sha256 of every retrieved pair against every image of the domain's datasets and of
    the general sets (which measure forgetting)."""
    return _result(retrieve_checks.no_evaluation_images(react_home.store(), context.partition_key))


@dg.asset_check(asset=zeroshot_eval, blocking=False,
                config_schema=launch_schema(ZeroshotRegressionConfig),
                description="The customized model is not worse than the base on the domain's "
                            "own datasets beyond a tolerance.")
def customized_not_worse_than_base(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource
) -> dg.AssetCheckResult:
    """Per domain dataset: customized - base >= -tolerance on the official metric (a WARN)."""
    config = launch_config(context, ZeroshotRegressionConfig)
    return _result(evaluate_checks.customized_not_worse_than_base(
        react_home.store(), context.partition_key, config.model_kind, config.tolerance),
        severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset=zeroshot_eval, blocking=True,
                description="The domain's newest react-<domain> version was promoted to "
                            "@champion or held as @challenger by its policy, and MLflow's aliases "
                            "agree with the metadata's promotions.")
def champion_by_evidence(
    context: dg.AssetCheckExecutionContext, react_home: ReactHomeResource, mlflow: MlflowResource
) -> dg.AssetCheckResult:
    """The decision and its figures; fails (blocking the leaderboard) without a decision or when
    the registry disagrees, warns when the new version was held as challenger."""
    outcome = evaluate_checks.champion_by_evidence(react_home.store(), mlflow.writer().client,
                                                   context.partition_key)
    held = evaluate_checks.held_as_challenger(outcome)
    metadata = dict(outcome.metadata)
    figures = metadata.pop("figures", [])
    metadata["reasons"] = dg.MetadataValue.md("\n".join(f"- {r}" for r in metadata["reasons"])) \
        if metadata.get("reasons") else "-"
    if figures:
        metadata["figures"] = records_table([{**f, **{k: None if f[k] is None else
                                                      round(100 * f[k], 2)
                                                      for k in ("difference", "low", "high")}}
                                             for f in figures],
                                            ("rule", "dataset", "metric", "difference", "low",
                                             "high", "p_value", "passed"))
    if metadata.get("version") is not None:
        metadata["version_page"] = dg.MetadataValue.url(mlflow.links().model_version(
            metadata["registered_model"], metadata["version"]))
    return dg.AssetCheckResult(
        passed=outcome.passed and not held, metadata=metadata,
        severity=dg.AssetCheckSeverity.WARN if held else dg.AssetCheckSeverity.ERROR)


ALL_CHECKS = [pair_ids_unique_and_attached, shard_has_pairs, embeddings_unit_norm_and_aligned,
              recall_meets_target, min_pairs_per_class, no_evaluation_images,
              customized_not_worse_than_base, champion_by_evidence]
