"""The run that tidies landing/ for the landing sensor (which only looks): refused entries go to
``landing/rejected/`` with their reason, a second copy of an ingested shard's bytes is removed."""

import dagster as dg

from dagster_project.resources import ReactHomeResource
from react_assets.corpus.intake import clear_landed


class LandingCleanupConfig(dg.Config):
    """Which entries of REACT_HOME/landing to tidy (names, as the sensor saw them)."""

    files: list[str]


@dg.op
def clear_landed_files(context: dg.OpExecutionContext, config: LandingCleanupConfig,
                       react_home: ReactHomeResource) -> None:
    """Refuse or remove each named landed entry; each is judged again here, not trusted."""
    paths = react_home.paths()
    for name in config.files:
        if "/" in name or name in ("", ".", ".."):
            raise dg.Failure(f"{name!r} is not a file name in {paths.landing}")
        context.log.info(clear_landed(paths.landing / name, paths.shards))


@dg.job(description="Moves refused landed files to landing/rejected/ (with their reason) and "
                    "removes landed copies of shards ingested already; asked by "
                    "landing_shards_sensor.")
def landing_cleanup_job() -> None:
    clear_landed_files()
