"""The layout of everything a run writes under one root (REACT_HOME)."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path


def check_writable(path: Path, what: str = "REACT_HOME") -> None:
    """Raise a PermissionError (or NotADirectoryError) naming ``path`` unless it, or the nearest
    folder above it that exists, can be written. Touches nothing but a probe file it removes."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{what} {path} cannot be created: {existing} is "
                                 "a file, not a folder")
    where = "" if existing == path else f" (its nearest existing folder {existing} is not)"
    try:  # a file of its own: processes creating the same home at once must not collide
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-probe-"):
            pass
    except OSError as err:
        raise PermissionError(f"{what} {path} is not writable{where}: {err.strerror or err}; "
                              f"set {what} to a folder you can write") from err


def model_folder_name(model_id: str) -> str:
    """A file-system-safe folder name for a model id (``react-mini-clip@sha256:ab12``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)


@dataclass(frozen=True)
class ReactPaths:
    """Every output folder and file of the pipeline, derived from one root."""

    root: Path

    @property
    def duckdb(self) -> Path:
        return self.root / "react.duckdb"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db.resolve()}"

    @property
    def mlartifacts(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def domains(self) -> Path:
        return self.root / "domains"

    @property
    def incoming_specs(self) -> Path:
        """Where domain spec files are dropped for the spec sensor."""
        return self.domains / "incoming"

    @property
    def eval_data(self) -> Path:
        return self.root / "eval"

    @property
    def embeddings(self) -> Path:
        return self.root / "embeddings"

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def shard_tar(self, shard_id: str) -> Path:
        """The ingested copy of a corpus shard."""
        return self.shards / f"{shard_id}.tar"

    def shard_embeddings(self, model_id: str, shard_id: str) -> Path:
        """The embedding folder of one shard under one base model."""
        return self.embeddings / model_folder_name(model_id) / shard_id

    def model_indexes(self, model_id: str) -> Path:
        """The index folder of one base model (one file per modality)."""
        return self.indexes / model_folder_name(model_id)

    def customization(self, base_model_id: str, domain: str, variant: str) -> Path:
        """Where a domain's customization of a base model is trained and saved."""
        return self.checkpoints / model_folder_name(base_model_id) / domain / variant

    def retrieval_grid(self, domain: str) -> Path:
        """The picture of a domain's top retrieved pairs."""
        return self.reports / "retrieval" / f"{domain}.png"

    def relative(self, path: Path | str) -> str:
        """``path`` as the metadata stores it: under the root, its root-relative POSIX text
        (``shards/x.tar``), so a home copied, restored or mounted elsewhere reads its own files;
        outside the home, the absolute path. A relative ``path`` is taken from the working
        directory. The root is matched as written, then with symlinks resolved."""
        given = Path(os.path.abspath(Path(path).expanduser()))
        root = Path(os.path.abspath(self.root))
        if given.is_relative_to(root):
            return given.relative_to(root).as_posix()
        real, real_root = given.resolve(), root.resolve()
        if real.is_relative_to(real_root):
            return real.relative_to(real_root).as_posix()
        return str(given)

    def resolve(self, stored: str | Path) -> Path:
        """The file a stored path names: a relative one under the root, an absolute one as is."""
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def create(self) -> ReactPaths:
        """Make every folder; first fails loudly, naming the root, when it is not writable."""
        check_writable(self.root, "REACT_HOME")
        for folder in (self.root, self.mlartifacts, self.dagster_home, self.shards, self.landing,
                       self.domains, self.incoming_specs, self.eval_data, self.embeddings,
                       self.indexes, self.checkpoints, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self
