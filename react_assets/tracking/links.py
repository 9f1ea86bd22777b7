"""Addresses in the MLflow tracking UI, and the parts of a registered model's URI.

The UI's pages are routes after ``#``: ``/experiments/<id>/runs/<run id>`` for a run,
``/models/<name>/versions/<version>`` for a registered model version. ``ui_url`` is where the UI
is served: the tracking server's URL in the cluster profile, ``scripts/mlflow.sh``'s
(``http://127.0.0.1:5000`` by default) in the embedded one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


@dataclass(frozen=True)
class RegisteredModelUri:
    """``models:/<name>/<version>`` or ``models:/<name>@<alias>``, parsed."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"models:/{self.name}" + (f"@{self.alias}" if self.alias else f"/{self.version}")


def parse_model_uri(uri: str) -> RegisteredModelUri:
    """The name and version (or alias) of a registered model URI; ValueError for anything else."""
    match = _MODEL_URI.match(uri or "")
    if match is None:
        raise ValueError(f"{uri!r} is not a registered model URI: expected "
                         "'models:/<name>/<version>' or 'models:/<name>@<alias>'")
    version = match.group("version")
    return RegisteredModelUri(match.group("name"), int(version) if version else None,
                              match.group("alias"))


def version_of(uri: str | None) -> int | None:
    """The version number of ``models:/<name>/<version>``; None for None or another URI."""
    try:
        return parse_model_uri(uri or "").version
    except ValueError:
        return None


@dataclass(frozen=True)
class TrackingLinks:
    """Links to the pages of one MLflow tracking UI."""

    ui_url: str

    def __post_init__(self) -> None:
        if not self.ui_url.startswith(("http://", "https://")):
            raise ValueError(f"TrackingLinks.ui_url {self.ui_url!r} is not an http(s) URL")

    def _page(self, route: str) -> str:
        return f"{self.ui_url.rstrip('/')}/#/{route}"

    def run(self, experiment_id: str, run_id: str) -> str:
        """A run's page."""
        return self._page(f"experiments/{quote(experiment_id)}/runs/{quote(run_id)}")

    def model_version(self, name: str, version: int | str) -> str:
        """A registered model version's page."""
        return self._page(f"models/{quote(name)}/versions/{quote(str(version))}")

    def registered_model(self, name: str) -> str:
        """A registered model's page (its versions and aliases)."""
        return self._page(f"models/{quote(name)}")

    def model_uri(self, uri: str) -> str | None:
        """The page of ``models:/<name>/<version>`` (or the model's, for an alias); None for a
        URI that names no registered model."""
        try:
            parsed = parse_model_uri(uri)
        except ValueError:
            return None
        if parsed.version is None:
            return self.registered_model(parsed.name)
        return self.model_version(parsed.name, parsed.version)
