"""Reading webdataset tar shards in the img2dataset layout, safely and in one streaming pass.

A sample is the group of members that share a key: ``{key}.jpg|.jpeg|.png|.webp`` (the image),
``{key}.txt`` (the caption) and optionally ``{key}.json``. Members are read from the stream, never
extracted to disk; a member whose path could escape the shard's folder, or that is not a regular
file, is reported instead of read. Member names become keys, and duplicated keys are found, by
:mod:`react_assets.corpus.members`, the same code that later stages locate members with.
"""

from __future__ import annotations

import contextlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from react_assets.corpus.members import KeyRuns, iter_keyed_members, unsafe_member_reason

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
KNOWN_EXTENSIONS = (*IMAGE_EXTENSIONS, "txt", "json")


@dataclass
class RawSample:
    """The members of one key as read from the tar, plus problems found while reading them."""

    key: str
    members: dict[str, bytes] = field(default_factory=dict)
    member_names: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # safe members with an unknown extension


@dataclass
class ShardReadStats:
    """What the streaming pass saw besides samples."""

    n_members: int = 0
    archive_error: str | None = None
    lost_keys: list[str] = field(default_factory=list)  # samples cut off by a broken archive
    keys: set[str] = field(default_factory=set)  # every key read, whole or not
    runs: KeyRuns = field(default_factory=KeyRuns)  # which of them are duplicated


COMPRESSED_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ", "xz"),
                    (b"\x28\xb5\x2f\xfd", "zstd"))


class ShardFileError(ValueError):
    """The file is not an uncompressed tar archive; the message names the file and the reason."""


def shard_file_problem(path: Path | str) -> str | None:
    """Why ``path`` cannot be a shard (not a tar, compressed, empty file), or None if it can.

    An uncompressed tar starts with a 512-byte header whose checksum matches, or with zero blocks
    (an empty archive, which is a tar and is ingested as one with 0 pairs).
    """
    with open(path, "rb") as handle:
        head = handle.read(512)
    if not head:
        return "not_a_tar: the file is empty (0 bytes)"
    for magic, name in COMPRESSED_MAGIC:
        if head.startswith(magic):
            return (f"compressed_archive: a {name}-compressed file; shards are read uncompressed "
                    f"(decompress it, e.g. 'gunzip', and land the .tar)")
    if len(head) == 512 and head == b"\x00" * 512:
        return None
    try:
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.HeaderError as err:
        return f"not_a_tar: {err}; it starts with {head[:40]!r}"
    return None


def iter_raw_samples(
    tar_path: Path | str, *, max_member_bytes: int, stats: ShardReadStats | None = None
) -> Iterator[RawSample]:
    """Yield samples in tar order, one per key, bounded in memory by ``max_member_bytes``.

    A sample is one run of adjacent members of a key; a key seen again later is yielded again.
    Which keys are duplicated (:class:`KeyRuns`) is known once the stream ends, in
    ``stats.runs.duplicated``: the caller refuses every sample of those keys. A truncated or
    corrupt archive ends the stream after the last complete sample and is noted in ``stats``.
    """
    stats = stats if stats is not None else ShardReadStats()
    current: RawSample | None = None
    try:
        with open_tar_stream(tar_path) as archive:
            for member, key, ext in iter_keyed_members(archive, stats.runs):
                stats.n_members += 1
                stats.keys.add(key)
                if current is None or current.key != key:
                    if current is not None:
                        yield current
                    current = RawSample(key=key)
                _read_member(archive, member, ext, current, max_member_bytes)
            _check_end_of_archive(tar_path, archive.offset)
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        stats.archive_error = f"{type(err).__name__}: {err}"
        # The sample being read when the archive broke may be incomplete: counted as lost.
        if current is not None:
            stats.lost_keys.append(current.key)
        current = None
    if current is not None:
        yield current


@contextlib.contextmanager
def open_tar_stream(tar_path: Path | str) -> Iterator[tarfile.TarFile]:
    """The tar in stream mode, behind :class:`_EndOfFileGuard` (a member declaring more bytes
    than the file holds ends the stream with EOFError instead of spinning)."""
    with open(tar_path, "rb") as raw, tarfile.open(fileobj=_EndOfFileGuard(raw),
                                                    mode="r|*") as archive:
        yield archive


class _EndOfFileGuard:
    """A file reader that raises EOFError when read again after it reported the end of the file.

    tarfile's stream mode skips a member by reading ``size`` bytes in 10 KiB blocks and does not
    stop at the end of the file, so a header declaring a huge size (up to 2**88 in base-256)
    would spin for hours on empty reads; a second read past the end is always a truncated tar.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._at_end = False

    def read(self, size: int = -1) -> bytes:
        if self._at_end:
            raise EOFError("read past the end of the file: a member's declared size overruns it")
        data = self._handle.read(size)
        self._at_end = not data and size != 0
        return data

    def close(self) -> None:
        self._handle.close()


def _read_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    ext: str | None,
    sample: RawSample,
    max_member_bytes: int,
) -> None:
    reason = unsafe_member_reason(member)
    if reason:
        sample.problems.append(("unsafe_member_path", reason))
        return
    if ext not in KNOWN_EXTENSIONS:
        # Unknown members (e.g. .parquet rows, extra files) are ignored, as webdataset does;
        # their names are kept to explain a sample that lacks its image or caption.
        sample.ignored.append(member.name)
        return
    if member.size > max_member_bytes:
        sample.problems.append(
            ("oversized_member", f"{member.name} is {member.size} bytes > {max_member_bytes}")
        )
        return
    if ext in sample.members:
        return  # a second copy: KeyRuns marks the key duplicated, and every copy is refused
    handle = archive.extractfile(member)
    if handle is None:
        sample.problems.append(("unreadable_member", f"{member.name} has no data"))
        return
    data = handle.read()
    if len(data) != member.size:
        raise EOFError(f"{member.name} is truncated ({len(data)} of {member.size} bytes)")
    sample.members[ext] = data
    sample.member_names[ext] = member.name


def _check_end_of_archive(tar_path: Path | str, offset: int) -> None:
    """An uncompressed tar ends with zero blocks after its last member; a cut one does not."""
    with open(tar_path, "rb") as handle:
        magic = handle.read(3)
        if magic[:2] == b"\x1f\x8b" or magic == b"BZh" or magic[:3] == b"\xfd7z":
            return  # compressed: truncation shows up as a short read or a decompression error
        handle.seek(offset)
        tail = handle.read(1024)
    if len(tail) < 1024 or tail.strip(b"\x00"):
        raise EOFError(f"no end-of-archive marker after offset {offset}: the tar is truncated")
