"""Shards dropped in ``REACT_HOME/landing``: looked at without touching them, and moved only by the
runs that take them.

A landed ``NAME.tar`` (any case of the suffix) with its optional img2dataset companions
``NAME.parquet`` and ``NAME_stats.json`` becomes the shard ``NAME-<12 hex of its sha256>``
(:func:`react_assets.corpus.identity.landed_shard_id`), so shards of different corpora that share
a name never overwrite each other.

``landing/`` is read by a sensor tick, which must leave it as it found it: :func:`scan_landing`
sorts what landed into shards ready to ingest (with their ids), entries that cannot be shards
(with the reason), files still being written, and companions still waiting for their tar. Only
runs move files: :func:`take_landed` (the ``corpus_shards`` step; a retry finishes a move that a
failed run began) and :func:`clear_landed` (a cleanup run: what cannot be a shard goes to
``landing/rejected/`` with a ``.reason.txt``, a second copy of a shard's bytes is removed).

Anything in landing/ that is not a regular file (a symbolic link, a folder, a pipe) is refused
from its ``lstat`` alone, never opened: a link may point anywhere on the machine.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from react_assets.corpus.identity import DIGEST_CHARS, landed_shard_id, stem_problem
from react_assets.corpus.shards import shard_file_problem
from react_assets.files.guard import check_publish
from react_assets.files.hashing import file_sha256

SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")
COMPANIONS = (".parquet", "_stats.json")
REJECTED = "rejected"
LANDED_ID = re.compile(rf"^(?P<stem>.+)-(?P<digest>[0-9a-f]{{{DIGEST_CHARS}}})$")
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
          (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))


@dataclass(frozen=True)
class LandedShard:
    """A settled landed tar that can be a shard."""

    path: Path
    shard_id: str
    stamp: str  # size and mtime: the same file landed again gets a new stamp


@dataclass(frozen=True)
class Refusal:
    """A landed entry that cannot be a shard, and why."""

    path: Path
    reason: str
    stamp: str


@dataclass
class LandingScan:
    """What a look at landing/ found; nothing in it was moved or written."""

    ready: list[LandedShard] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # waiting companions, files still changing
    changing: dict[str, list[int]] = field(default_factory=dict)  # name -> signature
    digests: dict[str, list] = field(default_factory=dict)  # name -> [size, mtime_ns, sha256]


def shard_suffix(path: Path) -> str | None:
    """The shard suffix of ``path``, matched without regard to case, or None."""
    lower = path.name.lower()
    return next((s for s in sorted(SHARD_SUFFIXES, key=len, reverse=True) if lower.endswith(s)),
                None)


def split_landed_name(path: Path) -> tuple[str, str] | None:
    """(stem, suffix) of a landed shard file, e.g. ``00000.TAR`` -> (``00000``, ``.tar``)."""
    suffix = shard_suffix(path)
    return None if suffix is None else (path.name[: -len(suffix)], suffix)


def companion_end(name: str) -> str | None:
    """``.parquet`` or ``_stats.json`` when ``name`` is an img2dataset companion file."""
    return next((end for end in COMPANIONS if name.lower().endswith(end) and len(name) > len(end)),
                None)


def not_regular(st: os.stat_result) -> str | None:
    """What the entry is when it is not a regular file (from its lstat), else None."""
    if stat.S_ISREG(st.st_mode):
        return None
    return next((kind for test, kind in _KINDS if test(st.st_mode)), "not a regular file")


def regular_companions(tar: Path) -> list[Path]:
    """The companions beside a landed tar that are regular files (links are not followed)."""
    stem = split_landed_name(tar)
    found = []
    for end in COMPANIONS if stem else ():
        path = tar.parent / f"{stem[0]}{end}"
        if path.is_symlink() or not path.is_file():
            continue
        found.append(path)
    return found


def landed_problem(path: Path) -> str | None:
    """Why a landed entry cannot be a shard, or None. A non-regular entry is judged by its lstat
    alone; a regular file by its name and its first 512 bytes."""
    kind = not_regular(path.lstat())
    if kind:
        return f"not_a_regular_file: {path.name} is {kind}; refused without reading it"
    stem, suffix = split_landed_name(path) or (path.stem, path.suffix)
    problem = stem_problem(stem)
    if problem is None and suffix != ".tar":
        problem = (f"compressed_archive: {suffix} shards are not read; decompress it and land "
                   "the .tar")
    return problem or shard_file_problem(path)


def scan_landing(landing: Path, changing: dict[str, list[int]], digests: dict[str, list],
                 now: float, settle_seconds: float) -> LandingScan:
    """Sort the entries of ``landing`` (read only). A tar is settled when its signature (sizes
    and mtimes, companions included) equals ``changing``'s from the previous look, or nothing
    changed for ``settle_seconds``; ``digests`` caches sha256s by (size, mtime)."""
    scan = LandingScan()
    entries = sorted((e for e in os.scandir(landing) if not e.name.startswith(".")
                      and not (e.name == REJECTED and e.is_dir(follow_symlinks=False))),
                     key=lambda e: e.name)
    tar_stems = {split[0] for e in entries if (split := split_landed_name(Path(e.name)))}
    for entry in entries:
        path, st = Path(entry.path), entry.stat(follow_symlinks=False)
        is_tar = shard_suffix(path) is not None
        end = None if is_tar else companion_end(entry.name)
        if not is_tar and end is None:
            continue  # not ours: left alone, unread
        stamp = f"{st.st_size}-{st.st_mtime_ns}"
        if not_regular(st):
            scan.refused.append(Refusal(path, landed_problem(path), stamp))  # from lstat alone
        elif end is not None:
            stem = entry.name[: -len(end)]
            if stem not in tar_stems and now - st.st_mtime >= settle_seconds:
                scan.notes.append(f"{entry.name} waits for {stem}.tar beside it (img2dataset "
                                  f"writes {stem}.tar, {stem}.parquet, {stem}_stats.json); "
                                  "land the tar, or remove it")
        else:
            _look_at_tar(scan, path, st, stamp, changing, digests, now, settle_seconds)
    return scan


def _look_at_tar(scan: LandingScan, path: Path, st: os.stat_result, stamp: str,
                 changing: dict[str, list[int]], digests: dict[str, list], now: float,
                 settle_seconds: float) -> None:
    stats = [st, *(c.lstat() for c in regular_companions(path))]
    signature = [v for s in stats for v in (s.st_size, s.st_mtime_ns)]
    if changing.get(path.name) != signature and now - max(s.st_mtime for s in stats) < settle_seconds:
        scan.changing[path.name] = signature
        return
    problem = landed_problem(path)
    if problem:
        scan.refused.append(Refusal(path, problem, stamp))
        return
    cached = digests.get(path.name)
    if cached and cached[:2] == [st.st_size, st.st_mtime_ns]:
        digest = cached[2]
    else:
        digest = file_sha256(path)
    scan.digests[path.name] = [st.st_size, st.st_mtime_ns, digest]
    stem = split_landed_name(path)[0]
    scan.ready.append(LandedShard(path, landed_shard_id(stem, digest), stamp))


def find_landed(shard_id: str, landing: Path) -> Path | None:
    """The regular ``.tar`` in ``landing`` whose bytes make ``shard_id``, or None."""
    match = LANDED_ID.match(shard_id)
    if match is None or not landing.is_dir():
        return None
    for path in sorted(landing.iterdir()):
        split = split_landed_name(path)
        if (split == (match["stem"], ".tar") and not path.is_symlink() and path.is_file()
                and landed_shard_id(match["stem"], file_sha256(path)) == shard_id):
            return path
    return None


def same_named_shards(stem: str, shard_id: str, shards: Path) -> list[str]:
    """The shards in ``shards`` other than ``shard_id`` that came from a file landed as ``stem``."""
    return sorted(p.stem for p in shards.glob(f"{stem}-*.tar") if p.stem != shard_id
                  and (match := LANDED_ID.match(p.stem)) and match["stem"] == stem)


def take_landed(path: Path, shard_id: str, shards: Path) -> str:
    """Move the landed ``path`` (companions first, then the tar: the tar's arrival means
    complete) to ``shards/<shard_id>.tar``; when that shard is there already with the same bytes,
    remove the landed copy instead. Safe to repeat. Raises OSError naming both paths. The message
    warns when other shards came from a file of the same name (a corrected shard, or another
    corpus): they are kept, and this one is a new shard beside them."""
    target = shards / f"{shard_id}.tar"
    stem = split_landed_name(path)[0]
    if target.exists() or target.is_symlink():
        if target.is_symlink() or not target.is_file() or file_sha256(target) != file_sha256(path):
            raise OSError(f"cannot move landed file {path} to {target}: something else is there "
                          "(the landed file stays)")
        for extra in [*regular_companions(path), path]:
            extra.unlink()
        return (f"{path.name} has the same bytes as shard {shard_id}, there already: the landed "
                "copy is removed")
    versions = same_named_shards(stem, shard_id, shards)
    for extra in regular_companions(path):
        _move(extra, shards / f"{shard_id}{extra.name[len(stem):]}")
    _move(path, target)
    message = f"moved {path.name} to {target}"
    if versions:
        message += (f"; WARNING: {len(versions)} other shard(s) came from a file named "
                    f"{path.name} ({', '.join(versions)}): kept, this is a new shard")
    return message


def refuse_landed(path: Path, reason: str) -> str:
    """Move ``path`` (a link itself, never what it points to) and its regular companions to
    ``landing/rejected/`` with ``NAME.reason.txt`` holding ``reason``."""
    folder = path.parent / REJECTED
    folder.mkdir(exist_ok=True)
    moved = [path.name]
    companions = regular_companions(path)
    _move(path, folder / path.name)
    for extra in companions:
        _move(extra, folder / extra.name)
        moved.append(extra.name)
    (folder / f"{path.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return f"{path.name} is not a shard: {reason}; moved to {folder} ({', '.join(moved)})"


def clear_landed(path: Path, shards: Path) -> str:
    """What a cleanup run does with one landed entry that is not to be ingested: refuse it (see
    :func:`refuse_landed`), or remove it when its bytes are a shard in ``shards`` already.
    Anything else stays for the sensor to look at again. Returns what was done."""
    if not os.path.lexists(path):
        return f"{path.name} is no longer in landing: nothing to do"
    if shard_suffix(path) is not None or not_regular(path.lstat()):
        reason = landed_problem(path)
        if reason:
            return refuse_landed(path, reason)
    split = split_landed_name(path)
    if split is None:
        return f"{path.name} is not a landed shard: left alone"
    shard_id = landed_shard_id(split[0], file_sha256(path))
    if (shards / f"{shard_id}.tar").exists():
        return take_landed(path, shard_id, shards)
    return f"{path.name}: no shard has these bytes yet; left for the landing sensor"


def _move(source: Path, target: Path) -> None:
    check_publish(f"moving {source} to {target}")
    try:
        os.replace(source, target)
    except OSError as err:
        raise OSError(f"cannot move landed file {source} to {target}: {err} (landing and "
                      "shards must be on the same file system)") from err
