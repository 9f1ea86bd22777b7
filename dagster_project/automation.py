"""Declarative automation: the conditions under which Dagster's automation sensor rebuilds what
fell behind, set on the assets themselves (shown on each asset's Automation tab).

- ``knn_index`` after new embeddings (:func:`after_new_inputs`);
- a domain's ``retrieved_pairs``, ``react_model`` and ``zeroshot_eval`` at the re-customization
  cron tick (``REACT_RECUSTOMIZATION_CRON``, default Sundays 03:00 UTC) when their inputs changed
  since they were last built, or they are missing, or their last run failed (:func:`on_cron`);
- ``leaderboard`` after new evaluations.

Nothing is requested while it, or anything upstream of it back to the corpus, is in a run or a
backfill that has not built it yet, nor before a base model and an index exist: a backfill holds
everything downstream until its last partition is done, whether it was launched from the asset
graph (an asset backfill, which Dagster's ``in_progress`` sees) or from a job's page (a job
backfill, which it does not: :class:`JobBackfillInProgress`). A domain due at the cron tick also
waits for the index rebuild its new embeddings call for, so that it retrieves from the rebuilt
index. Landed shards and spec files are the sensors' (``sensors.py``): files are not assets.

The sensor evaluates the conditions in the code location's server (``use_user_code_server``):
the job-backfill condition is this project's Python, which Dagster's own daemon cannot run.
"""

from __future__ import annotations

import functools
import os

import dagster as dg

from dagster_project.private_api import BulkActionStatus

AC = dg.AutomationCondition

RECUSTOMIZATION_CRON = os.environ.get("REACT_RECUSTOMIZATION_CRON", "0 3 * * 0")
RECUSTOMIZATION_TIMEZONE = os.environ.get("REACT_RECUSTOMIZATION_TIMEZONE", "UTC")
AUTOMATION_INTERVAL_SECONDS = 30

AUTOMATION_RUN_TAG = "dagster/from_automation_condition"  # on the runs the sensor launches
# Handled: requested, or materialized by a run the automation sensor did not launch (one it did
# was handled when it was requested; forgetting inputs again when it ends would lose those that
# changed while it ran).
HANDLED = (AC.newly_requested()
           | (AC.newly_updated() & ~AC.executed_with_tags(tag_keys={AUTOMATION_RUN_TAG}))
           | AC.initial_evaluation()).with_label("handled")


# A backfill in one of these states may still launch runs (or has runs that have not ended).
UNFINISHED_BACKFILL = (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING,
                       BulkActionStatus.FAILING)


class JobBackfillInProgress(dg.AutomationCondition):
    """True for the partitions of an asset that an unfinished job backfill targets: one launched
    from a job's page (``embedding_job``, ``corpus_job``...), which submits its runs a chunk at a
    time and which Dagster's ``backfill_in_progress`` (asset backfills only) does not see. The
    whole backfill counts until it ends, including partitions whose runs are done."""

    @property
    def name(self) -> str:
        return "job_backfill_in_progress"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        targets = unfinished_job_backfills(context.asset_graph_view.instance, context.asset_graph,
                                           (context.evaluation_id, context.evaluation_time))
        partitions = {p for keys, names in targets if context.key in keys for p in names}
        if not partitions:
            true_subset = context.get_empty_subset()
        elif context.partitions_def is None:
            true_subset = context.candidate_subset
        else:
            true_subset = context.candidate_subset.compute_intersection_with_partition_keys(
                partitions)
        return dg.AutomationResult(context, true_subset)


@functools.lru_cache(maxsize=1)  # read once per evaluation, not once per condition node
def unfinished_job_backfills(instance: dg.DagsterInstance, asset_graph: object,
                             evaluation: tuple) -> tuple[tuple[frozenset, frozenset], ...]:
    """(asset keys, partitions) of each unfinished job backfill of this code location's jobs, as
    of ``evaluation`` (its id and time: the key of the cache)."""
    from dagster_project.jobs import ALL_JOBS  # the jobs a job backfill can be launched from

    selections = {job.name: job.selection for job in ALL_JOBS if hasattr(job, "selection")}
    found = []
    for status in UNFINISHED_BACKFILL:
        for backfill in instance.get_backfills(status=status):
            if backfill.is_asset_backfill or backfill.job_name not in selections:
                continue
            keys = (backfill.asset_selection
                    or selections[backfill.job_name].resolve(asset_graph))
            found.append((frozenset(keys), frozenset(backfill.partition_names or ())))
    return tuple(found)


def in_progress() -> dg.AutomationCondition:
    """In a run or a backfill not done with it: Dagster's ``in_progress`` (runs and asset
    backfills) or a job backfill (:class:`JobBackfillInProgress`)."""
    return (AC.in_progress() | JobBackfillInProgress()).with_label("in progress")


def exists(asset: str) -> dg.AutomationCondition:
    """``asset`` has been materialized (any asset, not only a dependency)."""
    return AC.asset_matches(asset, ~AC.missing()).with_label(f"{asset} exists")


def upstream_in_progress(depth: int) -> dg.AutomationCondition:
    """An asset up to ``depth`` levels upstream is in a run or a backfill not done with it."""
    condition = in_progress()
    for _ in range(depth - 1):
        condition = in_progress() | AC.any_deps_match(condition)
    return AC.any_deps_match(condition).with_label(f"upstream in progress ({depth} levels)")


def after_new_inputs(depth: int, *, needs: tuple[str, ...] = ("base_model",)
                     ) -> dg.AutomationCondition:
    """Requested once an input updated since this asset was last handled (or it
    became missing while an input exists: asked once, not again after a failed or canceled run),
    and nothing up to ``depth`` levels upstream is in progress; every asset of ``needs`` must
    exist."""
    never_built = (AC.missing() & AC.any_deps_match(~AC.missing())).newly_true().since(
        AC.newly_requested() | AC.newly_updated()).with_label("missing while an input exists")
    fed = (AC.any_deps_updated().since(HANDLED) | never_built).with_label("new inputs")
    condition = fed & ~in_progress() & ~upstream_in_progress(depth)
    for asset in needs:
        condition = condition & exists(asset)
    return condition.with_label(f"after new inputs, once {' and '.join(needs)} "
                                f"exist{'s' if len(needs) == 1 else ''}")


def on_cron(depth: int, *, cron: str = RECUSTOMIZATION_CRON,
            timezone: str = RECUSTOMIZATION_TIMEZONE,
            optional_deps: tuple[str, ...] = ()) -> dg.AutomationCondition:
    """Requested after a tick of ``cron`` for a partition whose inputs changed since it was last
    handled, that is missing, or whose last run failed, as soon as nothing up to ``depth`` levels
    upstream is in progress and the index has caught up with its embeddings (the domains
    retrieve from the rebuilt index, after it, not beside it from the old one; a rebuild
    requested in the same tick runs apart from them). A partition that is unchanged
    and idle at the tick waits for the next one. A dependency in ``optional_deps`` may be
    missing; base model and index may not."""
    changed = (AC.any_deps_updated().since(HANDLED) | AC.missing()
               | AC.execution_failed()).with_label("inputs changed, missing or failed")
    index_behind = AC.asset_matches("knn_index", AC.any_deps_updated().since(
        AC.newly_requested() | AC.newly_updated())).with_label("knn_index behind its embeddings")
    busy = (in_progress() | upstream_in_progress(depth) | index_behind).with_label("busy")
    due = (AC.cron_tick_passed(cron, timezone) & (changed | busy)).since(
        HANDLED | (~changed & ~busy)).with_label(f"due since {cron} ({timezone})")
    deps_missing = AC.any_deps_missing()
    if optional_deps:
        deps_missing = deps_missing.ignore(dg.AssetSelection.assets(*optional_deps))
    return (due & changed & ~busy & ~deps_missing & exists("base_model") & exists("knn_index")
            ).with_label(f"on the re-customization cron {cron} ({timezone})")


# Depth: how many levels upstream must be idle. The index and the domain assets look back to
# corpus_shards and base_model; the leaderboard back to retrieved_pairs (the domain runs).
INDEX_CONDITION = after_new_inputs(2)
RETRIEVAL_CONDITION = on_cron(3, optional_deps=("domain_spec",))
MODEL_CONDITION = on_cron(4)
EVALUATION_CONDITION = on_cron(5)
LEADERBOARD_CONDITION = after_new_inputs(3, needs=("base_model", "knn_index"))

automation_sensor = dg.AutomationConditionSensorDefinition(
    "default_automation_condition_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_INTERVAL_SECONDS,
    use_user_code_server=True,  # JobBackfillInProgress is this project's Python
    description="Evaluates the assets' automation conditions (dagster_project/automation.py): "
                "the index after new embeddings, the domains on the re-customization cron, the "
                "leaderboard after new evaluations.",
)
