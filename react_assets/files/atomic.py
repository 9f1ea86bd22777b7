"""Atomic file writes: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from react_assets.files.guard import check_publish

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(target: Path | str, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    ``fsync`` flushes the file to disk before the rename (about 3 ms a file here); a writer of
    many files that records its completion last (the demo world's manifest) passes False and
    syncs once before that record.

    An exception leaves ``target`` untouched (old content or absent) and removes the temporary
    file, so readers never see a half-written file. A write that fails (disk full, file too
    large, read-only folder) raises an ``OSError`` of the same errno that names ``target``.
    A process killed outright (SIGKILL, OOM) cannot clean up, so each write first removes the
    temporary files of ``target`` left by dead processes of this host (the name carries the
    host and pid of its writer; a live writer's file is never touched). The guard in force
    (:mod:`react_assets.files.guard`) is consulted right before the rename: when it refuses,
    ``target`` is left untouched and :class:`~react_assets.files.guard.PublishRefused` raised.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(target)}{os.getpid()}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as err:
        raise _naming(err, target) from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_current_umask())  # mkstemp makes 0600; use the usual mode
        yield tmp_path
        if fsync:
            with open(tmp_path, "rb+") as handle:
                os.fsync(handle.fileno())
        check_publish(f"publishing {target}")
        os.replace(tmp_path, target)
    except OSError as err:
        raise _naming(err, target) from err
    finally:
        tmp_path.unlink(missing_ok=True)


def _temp_prefix(target: Path) -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]
    return f".{target.name}.{host}."


def remove_stale_temporaries(target: Path | str) -> list[Path]:
    """Remove the temporary files of ``target`` whose writer (a process of this host) is dead."""
    target = Path(target)
    prefix = _temp_prefix(target)
    removed = []
    for candidate in target.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = candidate.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    if removed:
        log.info("removed %d temporary file(s) of %s left by killed writers", len(removed), target)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _naming(err: OSError, target: Path) -> OSError:
    """The same kind of OSError (same errno), with a message that names ``target``."""
    if str(target) in str(err):
        return err
    if err.errno is None:
        return OSError(f"cannot write {target}: {err}")
    detail = f" ({err.filename})" if err.filename else ""
    try:
        return type(err)(err.errno, f"cannot write {target}: {err.strerror}{detail}", str(target))
    except TypeError:  # a subclass with another constructor
        return OSError(err.errno, f"cannot write {target}: {err.strerror}{detail}", str(target))


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: Path | str, data: bytes, *, fsync: bool = True) -> None:
    """Atomically write ``data`` to ``target`` (``fsync``: see :func:`atomic_path`)."""
    with atomic_path(target, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def write_text(target: Path | str, text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``target``."""
    write_bytes(target, text.encode("utf-8"))


def write_json(target: Path | str, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_npy(target: Path | str, array: np.ndarray) -> None:
    """Atomically save ``array`` as a ``.npy`` file.

    ``np.save`` writes through C stdio and ignores a failed flush, so on a full disk (or past
    ``RLIMIT_FSIZE``) it leaves a silently truncated file; the size on disk is therefore checked
    against the header before the rename.
    """
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        _check_npy_size(tmp, np.asarray(array).nbytes)


def _check_npy_size(path: Path, nbytes: int) -> None:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(handle)
        else:
            np.lib.format.read_array_header_2_0(handle)
        expected = handle.tell() + nbytes
    actual = os.path.getsize(path)
    if actual != expected:
        raise OSError(errno.EIO, f"short write, {actual} of {expected} bytes reached the disk "
                      "(disk full or file size limit?)", str(path))
