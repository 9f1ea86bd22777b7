"""The one Definitions object of the REACT code location (wiring only)."""

import dagster as dg

from dagster_project import jobs
from dagster_project.assets import corpus, demo, embeddings, models
from dagster_project.resources import MlflowResource, ReactHomeResource, default_react_home

_root = default_react_home()

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([demo, corpus, models, embeddings]),
    jobs=[jobs.demo_world_job, jobs.corpus_job, jobs.embedding_job, jobs.base_model_job],
    resources={
        "react_home": ReactHomeResource(root=_root),
        "mlflow": MlflowResource(root=_root),
    },
)
