"""Corpus ingestion: validate every sample of a shard and record the good pairs in DuckDB.

Bad samples never stop a shard: each is skipped with a reason (counted per reason and recorded in
``skipped_samples``); a sample lost in a damaged tar is counted too (``truncated_sample`` for the
one being read when the archive broke, ``missing_from_tar`` for each successful key of the
img2dataset parquet that the tar never reached). A file that is not an uncompressed tar is
refused (:class:`ShardFileError`) and records nothing. Re-ingesting a shard replaces its rows in
one transaction, so it never duplicates them and a failure leaves the previous rows in place; a
re-ingestion that would change the tar or lose pairs needs ``allow_replace``.

Captions are stored byte-exact (decoded UTF-8, whitespace kept); a caption that is only
whitespace is skipped as ``empty_caption``. Every copy of a key the tar holds more than once is
skipped as ``duplicate_key`` (the rule of :mod:`react_assets.corpus.members`, which later stages
locate members with). A sample whose image or caption is only in a member whose key has a dot
(``a.b.jpg`` is key ``a``, extension ``b.jpg``, as webdataset reads it) is skipped as
``dotted_key``. An image must decode into RGB by :func:`react_assets.files.images.to_rgb`, as
every later stage decodes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from tqdm import tqdm

from react_assets.corpus.identity import check_replacement, read_sidecar
from react_assets.corpus.members import dotted_key_detail, duplicate_key_detail
from react_assets.corpus.shards import (
    IMAGE_EXTENSIONS,
    RawSample,
    ShardFileError,
    ShardReadStats,
    iter_raw_samples,
    shard_file_problem,
)
from react_assets.files.hashing import file_sha256
from react_assets.files.images import ImageDecodeError, ImageTooLargeError, open_image, to_rgb
from react_assets.metadata import Store, insert_table
from react_assets.metadata.sql import (
    delete_shard_pairs,
    delete_shard_skipped,
    insert_pairs,
    insert_skipped_samples,
    upsert_shard,
)

log = logging.getLogger(__name__)

SHARD_IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")  # what .jpg/.jpeg/.png/.webp members may hold


@dataclass(frozen=True)
class IngestConfig:
    """Limits that decide which samples are accepted."""

    max_image_pixels: int = 4096 * 4096
    max_member_bytes: int = 32 * 1024 * 1024
    max_caption_chars: int = 4000
    workers: int = 2
    chunk_size: int = 64
    allow_replace: bool = False  # replace a shard's rows by a changed tar, or by fewer pairs


@dataclass(frozen=True)
class PairRecord:
    """One validated image-text pair."""

    key: str
    image_member: str
    caption: str
    source: str
    width: int
    height: int
    image_bytes: int
    image_sha256: str
    meta: dict[str, Any] | None


@dataclass
class IngestReport:
    """What ingesting one shard did."""

    shard_id: str
    n_members: int
    n_pairs: int
    skipped: dict[str, int]
    seconds: float
    archive_error: str | None = None
    sources: dict[str, int] = field(default_factory=dict)
    replaced: str | None = None  # what an allowed replacement changed

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def pairs_per_second(self) -> float:
        return self.n_pairs / self.seconds if self.seconds > 0 else 0.0


def stable_pair_id(shard_id: str, key: str) -> int:
    """A 63-bit id that depends only on the shard id and the sample key."""
    digest = hashlib.sha256(f"{shard_id}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def validate_sample(
    raw: RawSample, default_source: str, config: IngestConfig
) -> PairRecord | tuple[str, str]:
    """Return the validated pair, or (reason, detail) explaining why the sample is skipped."""
    if raw.problems:
        return raw.problems[0]
    images = [ext for ext in IMAGE_EXTENSIONS if ext in raw.members]
    if not images:
        dotted = dotted_key_detail(raw.key, raw.ignored, IMAGE_EXTENSIONS, "image")
        return ("dotted_key", dotted) if dotted else (
            "missing_image", f"{raw.key}: no .jpg/.jpeg/.png/.webp member")
    if "txt" not in raw.members:
        dotted = dotted_key_detail(raw.key, raw.ignored, ("txt",), "caption")
        return ("dotted_key", dotted) if dotted else ("missing_caption", f"{raw.key}: no .txt member")
    try:
        caption = raw.members["txt"].decode("utf-8")  # byte-exact: whitespace is kept
    except UnicodeDecodeError as err:
        return "caption_not_utf8", f"{raw.key}.txt: {err}"
    if not caption.strip():
        return "empty_caption", f"{raw.key}.txt is empty"
    if len(caption) > config.max_caption_chars:
        return "caption_too_long", f"{raw.key}.txt has {len(caption)} > {config.max_caption_chars} chars"
    data = raw.members[images[0]]
    checked = _check_image(data, raw.member_names[images[0]], config.max_image_pixels)
    if isinstance(checked[0], str):
        return checked  # type: ignore[return-value]
    width, height = checked
    meta = _parse_meta(raw.members.get("json"))
    source = str(meta.get("source")) if meta and meta.get("source") else default_source
    return PairRecord(
        key=raw.key,
        image_member=raw.member_names[images[0]],
        caption=caption,
        source=source,
        width=width,
        height=height,
        image_bytes=len(data),
        image_sha256=hashlib.sha256(data).hexdigest(),
        meta=meta,
    )


def _check_image(data: bytes, member: str, max_pixels: int) -> tuple[int, int] | tuple[str, str]:
    """Decode the image fully (size checked before decoding) and into RGB as later stages do;
    (w, h) or (reason, detail naming ``member``)."""
    try:
        # Only the layout's formats: Pillow sniffs content, and a .png holding a DDS, SPIDER
        # or EPS file would reach decoders that raise NotImplementedError/AttributeError.
        image = open_image(data, member, formats=SHARD_IMAGE_FORMATS, max_pixels=max_pixels)
    except ImageTooLargeError as err:
        return "oversized_image", str(err)
    except ImageDecodeError as err:
        return "undecodable_image", str(err)
    try:
        to_rgb(image)
    except ValueError as err:  # a mode Pillow cannot bring to RGB
        return "undecodable_image", f"{member}: cannot convert mode {image.mode} to RGB ({err})"
    return image.size


def _parse_meta(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        meta = json.loads(data.decode("utf-8"))
        # JSON escapes can smuggle lone surrogates ("\\ud800") that no UTF-8 column can store.
        json.dumps(meta, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):  # ValueError: also ints > 4300 digits
        return None
    return meta if isinstance(meta, dict) else None


def _validate_keyed(job: tuple[RawSample, str, IngestConfig]) -> tuple[str, Any]:
    return job[0].key, validate_sample(*job)


def iter_validated(
    tar_path: Path, default_source: str, config: IngestConfig, stats: ShardReadStats
) -> Iterator[tuple[str, PairRecord | tuple[str, str]]]:
    """Yield (key, result) per sample in tar order, decoding images on a pool of threads.

    Pillow's decoders and hashlib release the GIL, so threads decode in parallel without the
    start-up and pickling cost of processes; at most ``workers * chunk_size`` samples are in
    flight, so memory stays bounded whatever the shard size.
    """
    jobs = ((raw, default_source, config) for raw in
            iter_raw_samples(tar_path, max_member_bytes=config.max_member_bytes, stats=stats))
    if config.workers <= 1:
        yield from map(_validate_keyed, jobs)
        return
    window: deque[Future[tuple[str, Any]]] = deque()
    with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="ingest") as pool:
        for job in jobs:
            window.append(pool.submit(_validate_keyed, job))
            if len(window) >= config.workers * config.chunk_size:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def ingest_shard(
    tar_path: Path | str, shard_id: str, store: Store, config: IngestConfig
) -> IngestReport:
    """Validate every sample of ``tar_path`` and replace the shard's rows in DuckDB atomically."""
    tar_path = Path(tar_path)
    if not tar_path.is_file():
        raise FileNotFoundError(f"shard {shard_id}: {tar_path} does not exist")
    problem = shard_file_problem(tar_path)
    if problem:
        raise ShardFileError(f"shard {shard_id}: {tar_path} is refused: {problem}")
    started = time.perf_counter()
    stats = ShardReadStats()
    sidecar = read_sidecar(tar_path)
    results = list(tqdm(iter_validated(tar_path, tar_path.stem, config, stats),
                        desc=f"ingest {shard_id}", unit="sample", leave=False))
    # Which keys are duplicated is known once the whole tar is read; every copy is skipped.
    duplicated = stats.runs.duplicated
    pairs: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for key, result in results:
        if key in duplicated:
            result = ("duplicate_key", duplicate_key_detail(key, duplicated[key]))
        if isinstance(result, PairRecord):
            pairs.append(_pair_row(result, shard_id, len(pairs), sidecar.urls.get(key)))
        else:
            skipped.append(_skip(shard_id, key, *result))
    skipped += _lost_samples(shard_id, stats, sidecar.success_keys)
    counts = Counter(s["reason"] for s in skipped)
    report = IngestReport(
        shard_id=shard_id, n_members=stats.n_members, n_pairs=len(pairs),
        skipped=dict(sorted(counts.items())), seconds=time.perf_counter() - started,
        archive_error=stats.archive_error,
        sources=dict(sorted(Counter(p["source"] for p in pairs).items())),
    )
    tar_sha256 = file_sha256(tar_path)
    report.replaced = check_replacement(store, shard_id, tar_sha256, report.n_pairs,
                                        config.allow_replace)
    _write_shard(store, tar_path, tar_sha256, shard_id, pairs, skipped, report)
    log.info("shard %s: %d pairs, %d skipped %s", shard_id, report.n_pairs, report.n_skipped,
             report.skipped)
    return report


def _skip(shard_id: str, key: str, reason: str, detail: str) -> dict[str, str]:
    return {"shard_id": shard_id, "key": _utf8(key), "reason": reason, "detail": _utf8(detail[:500])}


def _lost_samples(shard_id: str, stats: ShardReadStats,
                  success_keys: set[str] | None) -> list[dict[str, str]]:
    """The samples a broken archive lost: the one being read, and each successful key of the
    parquet never reached; plus one ``truncated_archive`` row for the archive itself."""
    if not stats.archive_error:
        return []
    lost = [_skip(shard_id, key, "truncated_sample", f"cut off: {stats.archive_error}")
            for key in stats.lost_keys]
    unknown = "the samples after it are unknown (no img2dataset .parquet beside the tar)"
    if success_keys is not None:
        missing = sorted(success_keys - stats.keys)
        lost += [_skip(shard_id, key, "missing_from_tar",
                       "listed as a success in the parquet, not in the damaged tar")
                 for key in missing]
        unknown = f"{len(missing)} more successful sample(s) of the parquet never reached"
    return [*lost, _skip(shard_id, "", "truncated_archive", f"{stats.archive_error}; {unknown}")]


def _utf8(text: str) -> str:
    """``text`` with lone surrogates (undecodable tar names) escaped, so DuckDB can store it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _pair_row(record: PairRecord, shard_id: str, ordinal: int, url: str | None) -> dict[str, Any]:
    return {
        "pair_id": stable_pair_id(shard_id, record.key), "shard_id": shard_id, "ordinal": ordinal,
        "key": record.key, "image_member": record.image_member, "caption": record.caption,
        "source": record.source, "width": record.width, "height": record.height,
        "image_bytes": record.image_bytes, "image_sha256": record.image_sha256, "url": url,
        "meta": json.dumps(record.meta, ensure_ascii=False) if record.meta is not None else None,
    }


PAIR_SCHEMA = pa.schema([
    ("pair_id", pa.int64()), ("shard_id", pa.string()), ("ordinal", pa.int32()),
    ("key", pa.string()), ("image_member", pa.string()), ("caption", pa.string()),
    ("source", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
    ("image_bytes", pa.int32()), ("image_sha256", pa.string()), ("url", pa.string()),
    ("meta", pa.string()),
])
SKIPPED_SCHEMA = pa.schema([("shard_id", pa.string()), ("key", pa.string()),
                            ("reason", pa.string()), ("detail", pa.string())])


def _write_shard(
    store: Store, tar_path: Path, tar_sha256: str, shard_id: str, pairs: list[dict[str, Any]],
    skipped: list[dict[str, str]], report: IngestReport,
) -> None:
    tables = ((insert_pairs, pa.Table.from_pylist(pairs, schema=PAIR_SCHEMA)),
              (insert_skipped_samples, pa.Table.from_pylist(skipped, schema=SKIPPED_SCHEMA)))

    def write(conn) -> None:
        conn.execute(delete_shard_pairs, {"shard_id": shard_id})
        conn.execute(delete_shard_skipped, {"shard_id": shard_id})
        for statement, table in tables:
            if table.num_rows:
                insert_table(conn, statement, table)
        conn.execute(upsert_shard, {
            "shard_id": shard_id, "path": store.home.relative(tar_path),
            "tar_sha256": tar_sha256, "n_members": report.n_members,
            "n_pairs": report.n_pairs, "n_skipped": report.n_skipped,
            "skipped": json.dumps(report.skipped),
        })

    store.write(write, what=f"ingest shard {shard_id}")
