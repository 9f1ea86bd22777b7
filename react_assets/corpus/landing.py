"""Shards dropped in ``REACT_HOME/landing``: which files are ready, and moving one into ``shards/``.

A landed ``NAME.tar`` (any case of the suffix) with its optional img2dataset companions
``NAME.parquet`` and ``NAME_stats.json`` becomes the shard ``NAME-<12 hex of its sha256>``
(:func:`react_assets.corpus.identity.landed_shard_id`), so shards of different corpora that share
a name never overwrite each other. What cannot be a shard (not a tar, a compressed tar, an
unusable name) is moved to ``landing/rejected/`` with a ``.reason.txt`` beside it: kept, reported
once, and never a partition.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from react_assets.corpus.identity import landed_shard_id, stem_problem
from react_assets.corpus.shards import shard_file_problem
from react_assets.files.hashing import file_sha256

log = logging.getLogger(__name__)

SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")
COMPANIONS = (".parquet", "_stats.json")
REJECTED = "rejected"


@dataclass(frozen=True)
class Landed:
    """What became of one landed file."""

    path: Path
    status: str  # "new": moved into shards/; "same": these bytes are a shard already;
    # "rejected": moved to landing/rejected/
    shard_id: str | None = None
    message: str = ""


def shard_suffix(path: Path) -> str | None:
    """The shard suffix of ``path``, matched without regard to case, or None."""
    lower = path.name.lower()
    return next((s for s in sorted(SHARD_SUFFIXES, key=len, reverse=True) if lower.endswith(s)),
                None)


def split_landed_name(path: Path) -> tuple[str, str] | None:
    """(stem, suffix) of a landed shard file, e.g. ``00000.TAR`` -> (``00000``, ``.tar``)."""
    suffix = shard_suffix(path)
    return None if suffix is None else (path.name[: -len(suffix)], suffix)


def companions(path: Path) -> list[Path]:
    """The img2dataset files beside a landed tar (``.parquet``, ``_stats.json``) that exist."""
    stem = split_landed_name(path)
    if stem is None:
        return []
    return [c for c in (path.parent / f"{stem[0]}{end}" for end in COMPANIONS) if c.exists()]


def landed_files(landing: Path) -> list[Path]:
    """Candidate shard files in ``landing`` (hidden and temporary files ignored)."""
    return sorted(p for p in landing.iterdir() if p.is_file() and not p.name.startswith(".")
                  and shard_suffix(p) is not None)


def signature(path: Path) -> list[int]:
    """(size, mtime_ns) of the file and of each of its companions: a change means still writing."""
    return [v for p in [path, *companions(path)] for s in [p.stat()] for v in (s.st_size, s.st_mtime_ns)]


def settled_files(landing: Path, previous: dict[str, list[int]], now: float, settle_seconds: float
                  ) -> tuple[list[Path], dict[str, list[int]]]:
    """Split landed files into settled ones and still-changing {name: signature}: settled when
    the signature equals the previous tick's, or nothing changed for ``settle_seconds``."""
    ready, pending = [], {}
    for path in landed_files(landing):
        sig = signature(path)
        newest = max(sig[1::2]) / 1e9
        if previous.get(path.name) == sig or now - newest >= settle_seconds:
            ready.append(path)
        else:
            pending[path.name] = sig
    return ready, pending


def land_shard(path: Path, shards: Path) -> Landed:
    """Move one settled landed file into ``shards`` under its content-addressed id (or reject it).

    Raises OSError (naming both paths) when a move fails; nothing is lost then: the file stays.
    """
    stem, suffix = split_landed_name(path) or (path.stem, path.suffix)
    problem = stem_problem(stem)
    if problem is None and suffix != ".tar":
        problem = (f"compressed_archive: {suffix} shards are not read; decompress it and land "
                   "the .tar")
    problem = problem or shard_file_problem(path)
    if problem:
        return _reject(path, problem)
    digest = file_sha256(path)
    shard_id = landed_shard_id(stem, digest)
    target = shards / f"{shard_id}.tar"
    if target.exists() and not (target.is_file() and file_sha256(target) == digest):
        raise OSError(f"cannot move landed file {path} to {target}: something else is there "
                      "(the landed file stays)")
    if target.exists():
        for extra in [path, *companions(path)]:
            extra.unlink()  # the same bytes are ingested already: nothing new, nothing lost
        return Landed(path, "same", shard_id, f"{path.name} has the same bytes as shard "
                      f"{shard_id}, landed before: nothing to do (the landed copy is removed)")
    versions = sorted(p.stem for p in shards.glob(f"{stem}-*.tar") if p.stem != shard_id)
    for extra in companions(path):  # companions first: the tar's arrival means "complete"
        _move(extra, shards / f"{shard_id}{extra.name[len(stem):]}")
    _move(path, target)
    message = f"landed {path.name} as shard {shard_id}"
    if versions:
        message += (f"; WARNING: {len(versions)} other shard(s) came from a file named "
                    f"{stem}{suffix} ({', '.join(versions)}): kept, this is a new shard")
    return Landed(path, "new", shard_id, message)


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as err:
        raise OSError(f"cannot move landed file {source} to {target}: {err} (landing and "
                      "shards must be on the same file system)") from err


def _reject(path: Path, reason: str) -> Landed:
    folder = path.parent / REJECTED
    folder.mkdir(exist_ok=True)
    moved = [path.name]
    _move(path, folder / path.name)
    for extra in companions(path):
        _move(extra, folder / extra.name)
        moved.append(extra.name)
    (folder / f"{path.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return Landed(path, "rejected", None, f"{path.name} is not a shard: {reason}; moved to "
                  f"{folder} ({', '.join(moved)})")
