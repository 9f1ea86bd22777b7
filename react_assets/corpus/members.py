"""The one reader of a shard's member names: which key a member belongs to, and which keys the
tar holds more than once.

Every reader of a shard's members, ingestion's streaming pass (``shards.iter_raw_samples``) and
the later stages' look-up by name (:func:`member_offsets`: embedding, and ``pairs.read_pairs``
for training and the retrieval grid), goes through :func:`iter_keyed_members`, which applies one
rule (:class:`KeyRuns`): a key whose members appear in more than one place in the tar, or whose
extension repeats, is duplicated, and every copy of it is refused. So the image a stored pair's
sha256 was computed from is the only member its name can resolve to.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path


def split_member_name(name: str) -> tuple[str, str] | None:
    """Split ``dir/000123.jpg`` into (``dir/000123``, ``jpg``); None when it has no extension."""
    base = posixpath.basename(name)
    if "." not in base:
        return None
    stem, ext = base.split(".", 1)
    return posixpath.join(posixpath.dirname(name), stem), ext.lower()


def unsafe_member_reason(member: tarfile.TarInfo) -> str | None:
    """Why a member must not be read (escaping path, link, device), or None if it is safe."""
    name = member.name
    if name.startswith("/") or "\\" in name or ".." in name.split("/") or "\x00" in name:
        return f"member path {name!r} escapes the shard folder"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"member path {name!r} is not valid UTF-8"
    if not member.isfile():
        return f"member {name!r} is not a regular file (type {member.type!r})"
    return None


class KeyRuns:
    """The duplicate-key rule, fed the names of a shard's members in tar order.

    A member ``dir/000123.jpg`` belongs to key ``dir/000123`` (the base name cut at its first dot,
    as webdataset cuts it). A key is duplicated when its members are not one run of adjacent
    members (the key comes back after another key's members), or when its run holds the same
    extension twice (two adjacent copies of the sample).
    """

    def __init__(self) -> None:
        self.duplicated: dict[str, str] = {}  # key -> why it is duplicated, in words
        self._seen: set[str] = set()
        self._key: str | None = None
        self._extensions: set[str | None] = set()

    def add(self, name: str) -> tuple[str, str | None]:
        """(key, lower-case extension or None) of the member ``name``, noting duplication."""
        parts = split_member_name(name)
        key, ext = parts if parts else (name, None)
        if key != self._key:
            if key in self._seen:
                self.duplicated.setdefault(
                    key, f"its members appear again at {name!r}, after another key's members")
            self._seen.add(key)
            self._key, self._extensions = key, set()
        elif ext in self._extensions:
            self.duplicated.setdefault(key, f"{name!r} appears twice in a row")
        self._extensions.add(ext)
        return key, ext


def iter_keyed_members(archive: tarfile.TarFile,
                       runs: KeyRuns) -> Iterator[tuple[tarfile.TarInfo, str, str | None]]:
    """(member, key, extension) of each member in tar order, each name fed to ``runs``: the one
    place where a shard's reader turns member names into keys."""
    for member in archive:
        key, ext = runs.add(member.name)
        yield member, key, ext


def duplicate_key_detail(key: str, why: str) -> str:
    """The skip detail of every copy of a duplicated key."""
    return (f"key {key!r} is in the shard more than once ({why}); every copy is skipped, so "
            "that no pair is stored with another copy's image")


def dotted_key_detail(key: str, ignored: Sequence[str], extensions: Sequence[str],
                      what: str) -> str | None:
    """Why sample ``key`` has no ``what`` when one of its ``ignored`` members (unknown
    extension) is that member under a key with dots (``a.b.c.jpg`` read as key ``a``, extension
    ``b.c.jpg``); None when none is."""
    for name in ignored:
        ext = (split_member_name(name) or ("", ""))[1]
        stem, _, last = ext.rpartition(".")
        if stem and last in extensions:
            base = posixpath.basename(name)
            renamed = posixpath.join(posixpath.dirname(name),
                                     base[: -len(last) - 1].replace(".", "_") + "." + last)
            return (f"{name}: the key contains a dot, and webdataset splits a member name at its "
                    f"first dot, so {name!r} is read as key {key!r} with extension {ext!r}, and "
                    f"sample {key!r} has no {what}; name the members without dots in the key "
                    f"(e.g. {renamed!r})")
    return None


def member_offsets(tar_path: Path | str, names: Sequence[str]) -> list[tuple[int, int]]:
    """(data offset, size) of each named member of an uncompressed tar, in the order given.

    Headers are read by seeking (no member data is read), through :func:`iter_keyed_members`, so
    a name resolves to a member exactly when ingestion could have recorded it: a member of a
    duplicated key, an unsafe member, or a name not in the tar raises a ValueError naming the
    tar, the member and the reason. A damaged tar is read up to the damage, as ingestion reads it.
    """
    wanted = set(names)
    runs = KeyRuns()
    found: dict[str, tuple[int, int, str]] = {}  # name -> (offset, size, key)
    stopped = ""
    try:
        with tarfile.open(tar_path, mode="r:") as archive:
            for member, key, _ in iter_keyed_members(archive, runs):
                if member.name in wanted and unsafe_member_reason(member) is None:
                    found[member.name] = (member.offset_data, member.size, key)
    except (tarfile.TarError, EOFError, OSError, ValueError, OverflowError) as err:
        stopped = f"; reading stopped at {type(err).__name__}: {err}"
    for name in names:
        key = found[name][2] if name in found else None
        if key in runs.duplicated:
            raise ValueError(f"{tar_path}: member {name!r} is refused: "
                             f"{duplicate_key_detail(key, runs.duplicated[key])}; ingestion "
                             "skips such a key, so the tar changed after it was ingested: "
                             "re-ingest the shard")
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"{tar_path}: {len(missing)} ingested members are not in the tar, e.g. "
                         f"{missing[:3]}{stopped}; re-ingest the shard")
    return [found[n][:2] for n in names]
