"""A domain's champion and challenger: aliases of its MLflow registered model ``react-<domain>``.

``@champion`` is the version to serve: downstream users load ``models:/react-<domain>@champion``.
A new version becomes it only when the domain's promotion policy passes
(:mod:`react_assets.evaluate.promotion`); otherwise it is ``@challenger``. Every alias change
tags the version (``react.promotion.*``: the action, its reasons, when, the champion before) and
adds a row to the metadata's ``promotions`` table. A rollback points ``@champion`` at another
version, recorded the same way::

    python -m react_assets.tracking.promote rollback --domain digits --version 2 --reason "..."
    python -m react_assets.tracking.promote show --domain digits

The command reads REACT_HOME (or ``--home``); with ``REACT_PROFILE=cluster`` it reaches MLflow at
REACT_MLFLOW_URI and the metadata at REACT_METADATA_DSN (or ``--tracking-uri``, ``--dsn``).
:func:`main` is the only place here that reads the environment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from react_assets.files.paths import ReactPaths
from react_assets.metadata import Catalog, Store, open_store
from react_assets.metadata.sql import (
    insert_promotion,
    select_domain_promotions,
    select_model_by_mlflow_uri,
)

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
PROMOTED, HELD, ROLLBACK = "promoted", "challenger", "rollback"  # promotions.action
TAG_ACTION = "react.promotion.action"
TAG_REASONS = "react.promotion.reasons"
TAG_DECIDED_AT = "react.promotion.decided_at"
TAG_PREVIOUS = "react.promotion.previous_champion"
MAX_TAG_CHARS = 8000


def registered_model_name(domain: str) -> str:
    """The registered model whose aliases name the domain's champion and challenger."""
    return f"react-{domain}"


def alias_version(client: MlflowClient, name: str, alias: str) -> int | None:
    """The version ``alias`` points at, or None (no such alias, or no such model)."""
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


@dataclass(frozen=True)
class AliasChange:
    """One change of a domain's aliases: ``version`` decided on (``promoted`` or ``challenger``)
    or rolled back to (``rollback``); ``champion_version`` is ``@champion`` after it."""

    domain: str
    version: int
    model_id: str | None
    action: str
    champion_version: int | None
    previous_champion_version: int | None
    reasons: tuple[str, ...]
    figures: list[dict[str, Any]] | None = None
    policy: dict[str, Any] | None = None
    spec_digest: str | None = None
    dagster_run_id: str | None = None
    registered_model: str = field(default="")

    def __post_init__(self) -> None:
        if self.action not in (PROMOTED, HELD, ROLLBACK):
            raise ValueError(f"unknown promotion action {self.action!r}")
        if not self.registered_model:
            object.__setattr__(self, "registered_model", registered_model_name(self.domain))


def apply_alias_change(store: Store, client: MlflowClient, change: AliasChange) -> None:
    """Point the registered model's aliases as ``change`` says, tag the version, and add the
    ``promotions`` row; when the row cannot be written, the aliases are put back and it raises."""
    name, version = change.registered_model, str(change.version)
    before = {alias: alias_version(client, name, alias) for alias in (CHAMPION, CHALLENGER)}
    if change.action == HELD:
        client.set_registered_model_alias(name, CHALLENGER, version)
    else:
        client.set_registered_model_alias(name, CHAMPION, version)
        if before[CHALLENGER] == change.version:
            client.delete_registered_model_alias(name, CHALLENGER)
    tags = {TAG_ACTION: change.action, TAG_REASONS: "\n".join(change.reasons)[:MAX_TAG_CHARS],
            TAG_DECIDED_AT: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            TAG_PREVIOUS: "" if change.previous_champion_version is None
            else str(change.previous_champion_version)}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    try:
        store.execute(insert_promotion, {
            "domain": change.domain, "registered_model": name, "version": change.version,
            "model_id": change.model_id, "action": change.action,
            "champion_version": change.champion_version,
            "previous_champion_version": change.previous_champion_version,
            "reasons": json.dumps(list(change.reasons)),
            "figures": None if change.figures is None else json.dumps(change.figures),
            "policy": None if change.policy is None else json.dumps(change.policy),
            "spec_digest": change.spec_digest, "dagster_run_id": change.dagster_run_id})
    except Exception:
        _restore(client, name, before)
        raise
    log.info("%s version %s: %s (@champion: %s)", name, version, change.action,
             change.champion_version)


def _restore(client: MlflowClient, name: str, aliases: dict[str, int | None]) -> None:
    for alias, version in aliases.items():
        if version is None:
            if alias_version(client, name, alias) is not None:
                client.delete_registered_model_alias(name, alias)
        else:
            client.set_registered_model_alias(name, alias, str(version))


def rollback(store: Store, client: MlflowClient, domain: str, version: int,
             reason: str) -> AliasChange:
    """Point ``react-<domain>@champion`` at ``version`` (any registered version but the current
    champion), recorded in MLflow and in ``promotions``."""
    name = registered_model_name(domain)
    try:
        client.get_model_version(name, str(version))
    except MlflowException as err:
        raise LookupError(f"{name} has no version {version}: {err.message}") from None
    current = alias_version(client, name, CHAMPION)
    if current == version:
        raise ValueError(f"{name} version {version} is @champion already: nothing to roll back")
    rows = store.fetch(select_model_by_mlflow_uri, {"uri": f"models:/{name}/{version}"})
    change = AliasChange(domain, version, rows[0]["model_id"] if rows else None, ROLLBACK,
                         version, current, (reason,),
                         spec_digest=rows[0]["spec_digest"] if rows else None)
    apply_alias_change(store, client, change)
    return change


def history(store: Store, domain: str) -> list[dict[str, Any]]:
    """The domain's alias changes, newest first."""
    return store.fetch(select_domain_promotions, {"domain": domain})


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m react_assets.tracking.promote",
                                  description="A domain's @champion: roll it back, or show it.")
    cli.add_argument("--home", type=Path, help="REACT_HOME (default: the environment's)")
    cli.add_argument("--tracking-uri", help="MLflow (default: REACT_MLFLOW_URI in the cluster "
                     "profile, else the home's sqlite store)")
    cli.add_argument("--dsn", help="the metadata's PostgreSQL catalog (cluster profile)")
    commands = cli.add_subparsers(dest="command", required=True)
    back = commands.add_parser("rollback", help="point @champion at an earlier version")
    back.add_argument("--domain", required=True)
    back.add_argument("--version", type=int, required=True)
    back.add_argument("--reason", default="rolled back by hand")
    show = commands.add_parser("show", help="the aliases and the alias changes, newest first")
    show.add_argument("--domain", required=True)
    return cli


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """The command: 0 on success, 1 when the rollback was refused, 2 on a bad setup."""
    stdout = stdout or sys.stdout
    args = parser().parse_args(argv)
    home = args.home or (Path(os.environ["REACT_HOME"]) if os.environ.get("REACT_HOME") else None)
    if home is None:
        sys.stderr.write("error: no home: pass --home DIR or set REACT_HOME\n")
        return 2
    cluster = os.environ.get("REACT_PROFILE") == "cluster"
    paths = ReactPaths(home.resolve())
    uri = args.tracking_uri or (os.environ.get("REACT_MLFLOW_URI") if cluster else None) \
        or paths.mlflow_tracking_uri
    dsn = args.dsn or (os.environ.get("REACT_METADATA_DSN") if cluster else None)
    if cluster and not dsn:
        sys.stderr.write("error: the cluster profile needs --dsn or REACT_METADATA_DSN\n")
        return 2
    if not dsn and not Catalog(paths.root, "sqlite").sqlite_path.is_file():
        sys.stderr.write(f"error: no metadata at {paths.root}: pass --home DIR or set REACT_HOME\n")
        return 2
    store = open_store(paths.root, "postgres" if dsn else "sqlite", dsn=dsn)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = registered_model_name(args.domain)
    if args.command == "rollback":
        try:
            change = rollback(store, client, args.domain, args.version, args.reason)
        except (LookupError, ValueError) as err:
            sys.stderr.write(f"error: {err}\n")
            return 1
        stdout.write(f"{name}@champion: version {change.previous_champion_version} -> "
                     f"{change.version}\n")
        return 0
    stdout.write(f"{name}: @champion {alias_version(client, name, CHAMPION)}, "
                 f"@challenger {alias_version(client, name, CHALLENGER)}\n")
    for row in history(store, args.domain):
        reasons = "; ".join(json.loads(row["reasons"]))
        stdout.write(f"{row['decided_at']:%Y-%m-%d %H:%M:%S}  v{row['version']}  "
                     f"{row['action']:<10}  @champion v{row['champion_version']}  {reasons}\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(main())
