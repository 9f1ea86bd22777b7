"""Declarative automation: the conditions under which Dagster's automation sensor rebuilds what
fell behind, set on the assets themselves (shown on each asset's Automation tab).

- ``knn_index`` after new embeddings (:func:`after_new_inputs`);
- a domain's ``retrieved_pairs``, ``react_model`` and ``zeroshot_eval`` at the re-customization
  cron tick (``REACT_RECUSTOMIZATION_CRON``, default Sundays 03:00 UTC) when their inputs changed
  since they were last built, or they are missing, or their last run failed (:func:`on_cron`);
- ``leaderboard`` after new evaluations.

Nothing is requested while it, or anything upstream of it back to the corpus, is in a run or a
backfill that has not built it yet, nor before a base model and an index exist. Landed shards and
spec files are the sensors' (``sensors.py``): files are not assets.
"""

from __future__ import annotations

import os

import dagster as dg

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


def exists(asset: str) -> dg.AutomationCondition:
    """``asset`` has been materialized (any asset, not only a dependency)."""
    return AC.asset_matches(asset, ~AC.missing()).with_label(f"{asset} exists")


def upstream_in_progress(depth: int) -> dg.AutomationCondition:
    """An asset up to ``depth`` levels upstream is in a run or a backfill not done with it."""
    condition = AC.in_progress()
    for _ in range(depth - 1):
        condition = AC.in_progress() | AC.any_deps_match(condition)
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
    condition = fed & ~AC.in_progress() & ~upstream_in_progress(depth)
    for asset in needs:
        condition = condition & exists(asset)
    return condition.with_label(f"after new inputs, once {' and '.join(needs)} "
                                f"exist{'s' if len(needs) == 1 else ''}")


def on_cron(depth: int, *, cron: str = RECUSTOMIZATION_CRON,
            timezone: str = RECUSTOMIZATION_TIMEZONE,
            optional_deps: tuple[str, ...] = ()) -> dg.AutomationCondition:
    """Requested after a tick of ``cron`` for a partition whose inputs changed since it was last
    handled, that is missing, or whose last run failed, as soon as nothing up to ``depth`` levels
    upstream is in progress. A partition that is unchanged and idle at the tick waits for the
    next one. A dependency in ``optional_deps`` may be missing; base model and index may not."""
    changed = (AC.any_deps_updated().since(HANDLED) | AC.missing()
               | AC.execution_failed()).with_label("inputs changed, missing or failed")
    busy = (AC.in_progress() | upstream_in_progress(depth)).with_label("busy")
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
    description="Evaluates the assets' automation conditions (dagster_project/automation.py): "
                "the index after new embeddings, the domains on the re-customization cron, the "
                "leaderboard after new evaluations.",
)
