"""Executes, in-process and tagged as the demo tags its runs, a job whose one step holds the
compute pool's slot until the process is killed: ``python slot_holder.py MARKER``."""

import sys
import time
from pathlib import Path

import dagster as dg

from dagster_project.orphans import process_tags
from dagster_project.partitions import COMPUTE_POOL


@dg.op(pool=COMPUTE_POOL)
def hold_the_slot(context: dg.OpExecutionContext) -> None:
    Path(context.op_config["marker"]).write_text("holding")
    time.sleep(600)


@dg.job
def holding_job() -> None:
    hold_the_slot()


if __name__ == "__main__":
    with dg.DagsterInstance.get() as instance:
        holding_job.execute_in_process(
            instance=instance, tags=process_tags(),
            run_config={"ops": {"hold_the_slot": {"config": {"marker": sys.argv[1]}}}})
