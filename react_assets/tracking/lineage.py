"""MLflow lineage: one run per pre-training, customization or evaluation, with its inputs and model.

Everything goes through an explicit ``MlflowClient(tracking_uri=..., registry_uri=...)``: no
``mlflow.set_tracking_uri``, no fluent active run, so no global state to set or restore, and two
writers for two stores can live in one process. Models are logged with the client's LoggedModel
API (``create_logged_model`` + ``log_model_artifacts``) rather than a flavor's ``log_model``: the
customization is a folder of safetensors + config JSON that our own code loads, so a flavor would
add pickling, a pip-requirements inference subprocess and an ``input_example`` for nothing, and
the registry's ``models:/`` source path resolves the logged model through a global client.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow import entities as ml
from mlflow.exceptions import MlflowException
from mlflow.utils import mlflow_tags
from mlflow.utils import validation as limits

from react_assets.tracking.run_params import flatten_params, redact_secrets

log = logging.getLogger(__name__)

TAG_DAGSTER_RUN_ID = "dagster.run_id"
TAG_PARTITION = "dagster.partition"
TAG_CODE_VERSION = "react.code_version"
TAG_PARENT_MODEL = "react.parent_model"
TAG_RETRIEVAL_DIGEST = "react.retrieval_digest"
TAG_METADATA_SNAPSHOT = "react.metadata_snapshot"
TAG_REDACTED = "react.redacted_keys"
TAG_ERROR = "react.error"
TAG_LOGGED_MODEL_ID = "react.mlflow_logged_model_id"  # MLflow's LoggedModel id, not our model id

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclasses.dataclass(frozen=True)
class LineageConfig:
    """Where lineage goes: a database tracking URI (sqlite, embedded) with an absolute artifact
    root, or a tracking server's ``http(s)://`` URI (cluster) that stores and serves artifacts
    itself (``artifact_root`` None: clients never touch its files)."""

    tracking_uri: str
    artifact_root: Path | None
    experiment_name: str = "react"

    @property
    def is_server(self) -> bool:
        """Whether lineage goes to a tracking server over HTTP."""
        return self.tracking_uri.startswith(("http://", "https://"))

    def __post_init__(self) -> None:
        if "://" not in self.tracking_uri or self.tracking_uri.startswith("file:"):
            raise ValueError(f"LineageConfig.tracking_uri {self.tracking_uri!r}: the file store "
                             "is deprecated; use a database URI such as 'sqlite:////abs/mlflow.db'")
        if self.artifact_root is None:
            if not self.is_server:
                raise ValueError(f"LineageConfig.tracking_uri {self.tracking_uri!r}: a database "
                                 "URI needs an artifact_root (only a tracking server serves them)")
        elif self.is_server:
            raise ValueError("LineageConfig.artifact_root must be None with a tracking server "
                             f"({self.tracking_uri}): the server stores its artifacts")
        elif not Path(self.artifact_root).is_absolute():
            raise ValueError(f"LineageConfig.artifact_root {self.artifact_root} is not absolute")


@dataclasses.dataclass(frozen=True)
class RunHandle:
    """An open MLflow run, as yielded by :meth:`LineageWriter.start_run`."""

    run_id: str
    experiment_id: str
    run_name: str


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """A logged and registered model: ``model_uri`` is ``models:/<name>/<version>``."""

    model_uri: str
    name: str
    version: int
    logged_model_id: str  # MLflow's LoggedModel id
    run_id: str
    artifact_uri: str


def pipeline_tags(*, dagster_run_id: str, partition: str | None,
                  code_version: str) -> dict[str, str]:
    """The tags every pipeline run carries: Dagster run id, partition key and code version."""
    tags = {TAG_DAGSTER_RUN_ID: dagster_run_id, TAG_CODE_VERSION: code_version}
    if partition is not None:
        tags[TAG_PARTITION] = partition
    return tags


def _run_id(run: RunHandle | str) -> str:
    return run.run_id if isinstance(run, RunHandle) else run


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class LineageWriter:
    """Writes runs, their inputs, curves, metrics and registered models to one MLflow store."""

    def __init__(self, config: LineageConfig) -> None:
        self.config = config
        self.client = MlflowClient(tracking_uri=config.tracking_uri,
                                   registry_uri=config.tracking_uri)
        self._experiment_id: str | None = None

    @property
    def experiment_id(self) -> str:
        """The experiment's id; created on first use with ``artifact_root`` as its location."""
        if self._experiment_id is None:
            self._experiment_id = self._get_or_create_experiment()
        return self._experiment_id

    def _get_or_create_experiment(self) -> str:
        name, root = self.config.experiment_name, self.config.artifact_root
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(
                    name, artifact_location=None if root is None else str(root))
            except MlflowException:  # another process may have created it in between
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage != "active":
            raise RuntimeError(f"MLflow experiment {name!r} in {self.config.tracking_uri} is "
                               "deleted: restore it or configure another experiment_name")
        if root is not None and experiment.artifact_location.rstrip("/") not in (
                str(root), Path(root).as_uri()):
            log.warning("experiment %r keeps artifacts in %s, not the configured %s",
                        name, experiment.artifact_location, root)
        return experiment.experiment_id

    @contextlib.contextmanager
    def start_run(self, run_name: str, params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, str] | None = None,
                  parent_run_id: str | None = None) -> Iterator[RunHandle]:
        """Open a run; it ends FINISHED, or FAILED (KILLED if interrupted) when the body raises.

        ``params`` may be nested: see :func:`flatten_params`. Params and tags that look like
        credentials are never logged (see :func:`redact_secrets`); their keys are listed in the
        ``react.redacted_keys`` tag. ``parent_run_id`` makes this a child run (e.g. an evaluation).
        """
        flat, dropped = redact_secrets(flatten_params(params or {}))
        run_tags, dropped_tags = redact_secrets({k: str(v)[:limits.MAX_TAG_VAL_LENGTH]
                                                 for k, v in (tags or {}).items()})
        dropped += dropped_tags
        if dropped:
            log.warning("run %s: not logging %d secret-looking keys: %s",
                        run_name, len(dropped), ", ".join(dropped))
            run_tags[TAG_REDACTED] = ",".join(dropped)[:limits.MAX_TAG_VAL_LENGTH]
        if parent_run_id is not None:
            self.client.get_run(parent_run_id)  # fails loudly on an unknown parent
            run_tags[mlflow_tags.MLFLOW_PARENT_RUN_ID] = parent_run_id
        run = self.client.create_run(self.experiment_id, tags=run_tags, run_name=run_name)
        handle = RunHandle(run.info.run_id, self.experiment_id, run_name)
        status = ml.RunStatus.to_string(ml.RunStatus.KILLED)
        try:
            params_list = [ml.Param(k, v) for k, v in flat.items()]
            for chunk in _chunks(params_list, limits.MAX_PARAMS_TAGS_PER_BATCH):
                self.client.log_batch(handle.run_id, params=chunk, synchronous=True)
            yield handle
            status = ml.RunStatus.to_string(ml.RunStatus.FINISHED)
        except Exception as err:
            status = ml.RunStatus.to_string(ml.RunStatus.FAILED)
            self.client.set_tag(handle.run_id, TAG_ERROR, f"{type(err).__name__}: {err}"[:1000])
            raise
        finally:
            self.client.set_terminated(handle.run_id, status)
            log.info("MLflow run %s (%s) ended %s", handle.run_id, run_name, status)

    def log_retrieval_input(self, run: RunHandle | str, *, name: str, digest: str, num_rows: int,
                            source_query: str, snapshot: int | None = None,
                            database: str | None = None, context: str = "training") -> None:
        """Record the retrieval set as the run's input dataset (shown under the run's Inputs).

        The source is the DuckDB query that selects the set (type ``duckdb``) and the metadata
        snapshot it was read at (also a run tag: the query gives the same rows at that snapshot
        however the tables changed since); MLflow caps the digest at 36 characters, so the full
        digest also goes to the profile and a run tag.
        """
        if num_rows < 0 or not digest:
            raise ValueError(f"retrieval set {name!r}: need a digest and num_rows >= 0, "
                             f"got digest={digest!r} num_rows={num_rows}")
        dataset = ml.Dataset(name=name, digest=digest[:limits.MAX_DATASET_DIGEST_SIZE],
                             source_type="duckdb",
                             source=json.dumps({"query": source_query, "database": database,
                                                "snapshot": snapshot}),
                             profile=json.dumps({"num_rows": num_rows, "digest": digest}))
        tag = ml.InputTag(mlflow_tags.MLFLOW_DATASET_CONTEXT, context)
        self.client.log_inputs(_run_id(run), datasets=[ml.DatasetInput(dataset, tags=[tag])])
        self.client.set_tag(_run_id(run), TAG_RETRIEVAL_DIGEST, digest)
        if snapshot is not None:
            self.client.set_tag(_run_id(run), TAG_METADATA_SNAPSHOT, str(snapshot))

    def log_parent_model(self, run: RunHandle | str, parent: str) -> str | None:
        """Record the model this run starts from; return its LoggedModel id when MLflow has one.

        ``parent`` is ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
        ``models:/m-<id>``, ``runs:/<run_id>/...``, a bare run id, or any external reference
        (a hub tag, a local checkpoint path), which is kept as the ``react.parent_model`` tag only.
        """
        self.client.set_tag(_run_id(run), TAG_PARENT_MODEL, parent)
        model_id = self._resolve_logged_model(parent)
        if model_id is None:
            log.info("parent model %s is not an MLflow logged model: recorded as a tag", parent)
            return None
        self.client.log_inputs(_run_id(run), models=[ml.LoggedModelInput(model_id)])
        return model_id

    def _resolve_logged_model(self, ref: str) -> str | None:
        if ref.startswith("models:/"):
            body = ref.removeprefix("models:/")
            if body.startswith("m-") and "/" not in body:
                return self.client.get_logged_model(body).model_id
            if "@" in body:
                mv = self.client.get_model_version_by_alias(*body.split("@", 1))
            else:
                name, _, version = body.partition("/")
                mv = self.client.get_model_version(name, version)
            if TAG_LOGGED_MODEL_ID in mv.tags:
                return mv.tags[TAG_LOGGED_MODEL_ID]
            source_run = mv.run_id
        elif ref.startswith("runs:/"):
            source_run = ref.removeprefix("runs:/").split("/")[0]
        elif _RUN_ID.match(ref):
            source_run = ref
        else:
            return None
        outputs = self.client.get_run(source_run).outputs
        models = outputs.model_outputs if outputs else []
        return models[-1].model_id if models else None

    def log_curve(self, run: RunHandle | str, key: str, values: Sequence[float],
                  steps: Sequence[int]) -> None:
        """Log a training curve (loss, lr...) as one metric history, in batches."""
        if len(values) != len(steps):
            raise ValueError(f"curve {key!r}: {len(values)} values but {len(steps)} steps")
        now = int(time.time() * 1000)
        self._log_metric_entries(_run_id(run), [ml.Metric(key, float(v), now, int(s))
                                                for v, s in zip(values, steps, strict=True)])

    def log_metrics(self, run: RunHandle | str, metrics: Mapping[str, float],
                    step: int | None = None) -> None:
        """Attach evaluation metrics to a run (open or finished); non-finite values raise."""
        bad = {k: v for k, v in metrics.items() if not math.isfinite(float(v))}
        if bad:
            raise ValueError(f"run {_run_id(run)}: non-finite metrics {bad}")
        now = int(time.time() * 1000)
        self._log_metric_entries(_run_id(run), [ml.Metric(k, float(v), now, step or 0)
                                                for k, v in metrics.items()])

    def _log_metric_entries(self, run_id: str, entries: list[ml.Metric]) -> None:
        for chunk in _chunks(entries, limits.MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=chunk, synchronous=True)

    def log_model(self, run: RunHandle | str, model_dir: Path, registered_name: str) -> ModelRef:
        """Log ``model_dir`` (safetensors + config JSON) as the run's model and register it.

        The folder becomes a LoggedModel whose source run is ``run`` (listed in the run's
        Outputs), then version N of the registered model ``registered_name`` (created if new).
        """
        model_dir, run_id = Path(model_dir), _run_id(run)
        if not model_dir.is_dir() or not any(model_dir.glob("*.safetensors")):
            raise FileNotFoundError(f"model folder {model_dir} is missing or holds no .safetensors")
        logged = self.client.create_logged_model(self.experiment_id, name=registered_name,
                                                 source_run_id=run_id, model_type="react")
        try:
            self.client.log_model_artifacts(logged.model_id, str(model_dir))
        except BaseException:
            self.client.finalize_logged_model(logged.model_id, "FAILED")
            raise
        logged = self.client.finalize_logged_model(logged.model_id, "READY")
        self.client.log_outputs(run_id, [ml.LoggedModelOutput(logged.model_id, step=0)])
        with contextlib.suppress(MlflowException):  # already registered
            self.client.create_registered_model(registered_name)
        version = self.client.create_model_version(
            registered_name, source=logged.artifact_location, run_id=run_id,
            tags={TAG_LOGGED_MODEL_ID: logged.model_id}, model_id=logged.model_id)
        self.client.set_logged_model_tags(logged.model_id, {mlflow_tags.MLFLOW_MODEL_VERSIONS:
            json.dumps([{"name": registered_name, "version": version.version}])})
        log.info("registered %s version %s from run %s", registered_name, version.version, run_id)
        return ModelRef(model_uri=f"models:/{registered_name}/{version.version}",
                        name=registered_name, version=int(version.version),
                        logged_model_id=logged.model_id, run_id=run_id,
                        artifact_uri=logged.artifact_location)

    def find_runs(self, tags: Mapping[str, str], status: str | None = None,
                  max_results: int = 1000) -> list[ml.Run]:
        """Runs of this experiment with these tag values (and status), newest first."""
        clauses = [f"tags.`{key}` = '{value}'" for key, value in tags.items()]
        if status is not None:
            clauses.append(f"attributes.status = '{status}'")
        if any("'" in text or "`" in text for text in [*tags, *tags.values(), status or ""]):
            raise ValueError(f"find_runs: quote characters in {dict(tags)} / status {status!r}")
        return list(self.client.search_runs([self.experiment_id], " AND ".join(clauses),
                                            max_results=max_results,
                                            order_by=["attributes.start_time DESC"]))

    def get_run(self, run_id: str) -> ml.Run:
        """The run with its params, tags, metrics and inputs / outputs."""
        return self.client.get_run(run_id)

    def metric_history(self, run: RunHandle | str, key: str) -> list[tuple[int, float]]:
        """A metric's (step, value) history, ordered by step."""
        history = self.client.get_metric_history(_run_id(run), key)
        return sorted((m.step, m.value) for m in history)
