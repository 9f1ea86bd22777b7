"""Every SQL statement of the project, loaded once, one module attribute per file.

Installed as the package ``react_assets.metadata.sql`` (this folder is its home, see pyproject.toml).
``queries/<verb>_<object>.sql`` become attributes of this module, so a wrong statement name fails
at import: ``from react_assets.metadata.sql import select_shard_pairs``. ``SCHEMA`` holds the idempotent
DDL of ``schema/create_*.sql`` in file-name order. Values are always bound (``$name``).
"""

from __future__ import annotations

from importlib import resources


class Statement(str):
    """The text of one SQL statement, with the name of the file it came from."""

    name: str

    def __new__(cls, name: str, text: str) -> Statement:
        statement = super().__new__(cls, text)
        statement.name = name
        return statement

    def __repr__(self) -> str:
        return f"Statement({self.name!r})"

    def __reduce__(self) -> tuple[type[Statement], tuple[str, str]]:
        return Statement, (self.name, str(self))  # pickled with its name (process pools)


def _load(folder: str) -> dict[str, Statement]:
    root = resources.files(__name__).joinpath(folder)
    files = sorted((f for f in root.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return {f.name[:-4]: Statement(f.name[:-4], f.read_text(encoding="utf-8")) for f in files}


SCHEMA: tuple[Statement, ...] = tuple(_load("schema").values())
QUERIES: dict[str, Statement] = _load("queries")
globals().update(QUERIES)
