"""Paths into a home stored relative to it: the ``relative_paths`` upgrade of homes made by
earlier releases, whose rows name the home's files by absolute path.

Each path column (:data:`PATH_COLUMNS`, and the ``arch``/``pretrained`` of a base model's
``models.config``) holding an absolute path under the home's root, as written or with symlinks
resolved, becomes root-relative. A path under another root (a home moved before the upgrade) is
made relative from its first home folder name on (``shards/``, ``embeddings/``, ...) when that
file exists under this root. Anything else (a checkpoint or spec file outside the home, an
architecture name, a hub tag, a path no longer found) is left as it is and named in the detail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from react_assets.files.paths import ReactPaths

# (table, column) of every stored path; values are bound, names come only from here
PATH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("shards", "path"), ("embedding_sets", "folder"), ("indexes", "path"),
    ("domains", "spec_path"), ("models", "checkpoint"), ("models", "arch"),
    ("models", "pretrained"),
)
BASE_CONFIG_KEYS = ("arch", "pretrained")  # the paths of a base model's BaseModelConfig JSON
LOCAL_DIR_PREFIX = "local-dir:"  # open_clip's name of a model folder (models.factory)


@dataclass
class Relocation:
    """What the upgrade did, by distinct stored value."""

    home: ReactPaths
    changed: set[str] = field(default_factory=set)
    moved: set[str] = field(default_factory=set)  # found under a former root
    left: set[str] = field(default_factory=set)  # absolute, not in this home

    def value(self, stored: str) -> str:
        """``stored`` with an absolute path into the home (after an optional ``local-dir:``)
        made relative; anything else unchanged (an absolute one counted as left)."""
        prefix = LOCAL_DIR_PREFIX if stored.startswith(LOCAL_DIR_PREFIX) else ""
        path = Path(stored[len(prefix):])
        if not path.is_absolute():
            return stored
        relative = self.home.relative(path)
        if Path(relative).is_absolute():
            relative = self._from_home_folder(path)
            if relative is None:
                self.left.add(stored)
                return stored
            self.moved.add(stored)
        self.changed.add(stored)
        return prefix + relative

    def _from_home_folder(self, path: Path) -> str | None:
        """The part of ``path`` from a home folder name on, when it exists under this home."""
        folders = {p.name for p in (self.home.shards, self.home.embeddings, self.home.indexes,
                                    self.home.checkpoints, self.home.domains)}
        for i, part in enumerate(path.parts):
            tail = Path(*path.parts[i:])
            if part in folders and (self.home.root / tail).exists():
                return tail.as_posix()
        return None

    def detail(self) -> str | None:
        """The upgrade's detail for ``schema_migrations``: None when it found no absolute path."""
        if not self.changed and not self.left:
            return None
        text = f"{len(self.changed)} stored path(s) made relative to the home"
        if self.moved:
            text += f" ({len(self.moved)} found by their home folder under a former root)"
        if self.left:
            shown = ", ".join(sorted(self.left)[:5])
            text += (f"; {len(self.left)} absolute path(s) not in this home left as they are: "
                     f"{shown}{', ...' if len(self.left) > 5 else ''}")
        return text


def relocate_columns(conn: duckdb.DuckDBPyConnection, relocation: Relocation) -> None:
    """Rewrite every value of :data:`PATH_COLUMNS` that names a path into the home."""
    for table, column in PATH_COLUMNS:
        values = conn.execute(f"SELECT DISTINCT {column} FROM {table} "
                              f"WHERE {column} IS NOT NULL").fetchall()
        for (old,) in values:
            new = relocation.value(old)
            if new != old:
                conn.execute(f"UPDATE {table} SET {column} = $new WHERE {column} = $old",
                             {"new": new, "old": old})


def relocate_base_configs(conn: duckdb.DuckDBPyConnection, relocation: Relocation) -> None:
    """Rewrite the local weights' paths in each base model's ``config`` (a BaseModelConfig)."""
    rows = conn.execute("SELECT DISTINCT model_id, CAST(config AS VARCHAR) FROM models "
                        "WHERE kind = 'base'").fetchall()
    for model_id, text in rows:
        config = json.loads(text)
        if not isinstance(config, dict):
            continue
        new = {k: relocation.value(v) if k in BASE_CONFIG_KEYS and isinstance(v, str) else v
               for k, v in config.items()}
        if new != config:
            conn.execute("UPDATE models SET config = CAST($new AS JSON) WHERE kind = 'base' "
                         "AND model_id = $model_id AND CAST(config AS VARCHAR) = $old",
                         {"new": json.dumps(new), "model_id": model_id, "old": text})


def relative_paths(conn: duckdb.DuckDBPyConnection, home: ReactPaths) -> str | None:
    """Make the home's stored absolute paths into it relative; returns what it did, or None."""
    relocation = Relocation(home)
    relocate_columns(conn, relocation)
    relocate_base_configs(conn, relocation)
    return relocation.detail()
