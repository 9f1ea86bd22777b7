"""Fuzz and bad-input tests for the shard reader and ingestion (hypothesis, derandomized).

Properties: ``ingest_shard`` never raises for a damaged shard (bad samples are skipped with a
reason), never hangs (SIGALRM limit), keeps memory bounded (peak RSS growth), records only pairs
whose image decodes and whose caption is UTF-8, its counts add up, and it writes nothing outside
``tmp_path``. Ingestion into DuckDB with worker processes runs 40 cases here; the reader alone
runs the long campaign (tests/corpus/test_fuzz_campaign_shards.py).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import struct
import tarfile
import zlib
from pathlib import Path

import pytest
from fuzz_support import peak_rss_growth, read_members, time_limit
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image, features
from react_assets.metadata.sql import select_shard_pairs
from shard_factory import png_bytes, write_shard

from react_assets.corpus.ingest import IngestConfig, IngestReport, ingest_shard
from react_assets.corpus.members import member_offsets
from react_assets.corpus.shards import (
    ShardFileError,
    ShardReadStats,
    iter_raw_samples,
    shard_file_problem,
)
from react_assets.metadata import Store

LIMITS = IngestConfig(max_image_pixels=256 * 256, max_member_bytes=64 * 1024,
                      max_caption_chars=300, workers=1,
                      allow_replace=True)  # examples share one store and one shard id
REASONS = {"unsafe_member_path", "oversized_member", "unreadable_member", "dotted_key",
           "missing_image", "missing_caption", "caption_not_utf8", "empty_caption",
           "caption_too_long", "undecodable_image", "oversized_image", "duplicate_key",
           "truncated_archive", "truncated_sample", "missing_from_tar"}
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=40,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture,
                                       HealthCheck.large_base_example])
ABS_ESCAPE = f"/tmp/react-fuzz-escape-{os.getpid()}"
FORMATS = ["PNG", "JPEG"] + (["WEBP"] if features.check("webp") else [])




@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: relative escapes would land next to it, in ``tmp_path``."""
    cwd = tmp_path / "cwd" / "inner"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    return tmp_path


def assert_nothing_escaped(tmp_path: Path) -> None:
    stray = [p for p in tmp_path.rglob("*") if p.is_file()
             and p.relative_to(tmp_path).parts[0] not in ("react-home", "shards")]
    assert stray == [], f"files written outside the store: {stray}"
    assert not any(Path(f"{ABS_ESCAPE}.{ext}").exists() for ext in ("png", "txt"))


def image_bytes(fmt: str, mode: str, size: tuple[int, int], seed: int) -> bytes:
    """A noisy (so not trivially compressible) image encoded in ``fmt``."""
    noise = random.Random(seed).randbytes(size[0] * size[1] * 3)
    img = Image.frombytes("RGB", size, noise).convert(mode if fmt != "JPEG" else "RGB")
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


valid_images = st.builds(image_bytes, st.sampled_from(FORMATS), st.sampled_from(["RGB", "L", "RGBA", "P"]),
                         st.tuples(st.integers(1, 40), st.integers(1, 40)), st.integers(0, 2**16))


# --- mutated shards ---------------------------------------------------------------------------

EVIL_NAMES = ["../escape.png", "../../escape.txt", "a/../../escape.png", f"{ABS_ESCAPE}.png",
              f"{ABS_ESCAPE}.txt", "dir\\..\\escape.png", "000000000.png", "000000000.txt",
              "x" * 300 + ".png", "noext", ".hidden.txt", "a/b/c.jpeg", "k.PNG", "k.tar.gz",
              "nul\x00name.png", "\u202eevil.txt", "k.\udcff.txt", ""]
member_types = st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                                tarfile.DIRTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE,
                                tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE])
evil_members = st.tuples(
    st.one_of(st.sampled_from(EVIL_NAMES),
              st.builds("{}.{}".format, st.text(max_size=20), st.sampled_from(["png", "txt", "json"]))),
    member_types, st.one_of(valid_images, st.binary(max_size=300)),
    st.sampled_from(["", "/etc/passwd", "../../outside", "000000000.png"]),
    st.sampled_from([None, None, 8**11 - 1, 2**80, 70 * 1024]),  # declared size overrides
)
SIZE_VALUES = [b"77777777777\x00", b"\x80" + b"\x00" * 3 + b"\xff" * 8, b"00000000000\x00",
               b"00000001000\x00", b"-1", b""]
HEADER_FIELDS = {"name": (0, 100), "size": (124, 12), "type": (156, 1), "linkname": (157, 100)}
mutations = st.one_of(
    st.tuples(st.just("header"), st.integers(0, 64), st.sampled_from(sorted(HEADER_FIELDS)),
              st.one_of(st.sampled_from(SIZE_VALUES + [b"../x.png", b"/abs.png", b"1", b"2", b"5",
                                                       b"L", b"K", b"x", b"g", b"S", b"\x00"]),
                        st.binary(max_size=12))),
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 2**20)),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.binary(min_size=1, max_size=600)),
    st.tuples(st.just("delete"), st.integers(0, 2**20), st.integers(1, 1024)),
)


def _add_raw(archive: tarfile.TarFile, name: str, kind: bytes, data: bytes, link: str,
             declared: int | None) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, link, 0
    info.size = len(data) if declared is None else declared
    if declared is None:
        archive.addfile(info, io.BytesIO(data))
        return
    header = info.tobuf(archive.format, "utf-8", "surrogateescape")  # a header and no data
    archive.fileobj.write(header)
    archive.offset += len(header)


@st.composite
def damaged_shards(draw: st.DrawFn) -> bytes:
    """A valid shard with evil members spliced in, byte-mutated, maybe gzip-compressed."""
    members = []
    for i in range(draw(st.integers(1, 4))):
        ext = draw(st.sampled_from(["png", "jpg", "jpeg", "webp"]))
        members += [(f"{i:09d}.{ext}", tarfile.REGTYPE, draw(valid_images), "", None),
                    (f"{i:09d}.txt", tarfile.REGTYPE, f"caption {i}".encode(), "", None)]
    for evil in draw(st.lists(evil_members, max_size=3)):
        members.insert(draw(st.integers(0, len(members))), evil)
    tar_format = draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        for member in members:
            with contextlib.suppress(ValueError, UnicodeError):  # not representable: leave out
                _add_raw(archive, *member)
    data, compress = buffer.getvalue(), draw(st.sampled_from(["none", "none", "none", "before", "after"]))
    data = gzip.compress(data, mtime=0) if compress == "before" else data
    for op in draw(st.lists(mutations, max_size=3)):
        data = mutate(data, op)
        event(f"mutation: {op[0]}")
    event(f"gzip: {compress}")
    return gzip.compress(data, mtime=0) if compress == "after" else data


def mutate(data: bytes, op: tuple) -> bytes:
    kind, where = op[0], op[1] % (len(data) + 1)
    if kind == "flip" and data:
        where %= len(data)
        return data[:where] + bytes([data[where] ^ op[2]]) + data[where + 1:]
    if kind == "truncate":
        return data[:where]
    if kind == "insert":
        return data[:where] + op[2] + data[where:]
    if kind == "delete":
        return data[:where] + data[where + op[2]:]
    if kind == "header":
        headers = [i for i in range(0, len(data) - 511, 512) if data[i + 257:i + 262] == b"ustar"]
        if headers:
            return rewrite_header(data, headers[op[1] % len(headers)], *HEADER_FIELDS[op[2]], op[3])
    return data


def rewrite_header(data: bytes, at: int, offset: int, length: int, value: bytes) -> bytes:
    """Overwrite one header field and recompute the checksum, so tarfile trusts the header."""
    header = bytearray(data[at:at + 512])
    header[offset:offset + length] = value[:length].ljust(length, b"\x00")
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    return data[:at] + bytes(header) + data[at + 512:]


def check_ingested(store: Store, shard: Path, shard_id: str, report: IngestReport) -> None:
    """Counts add up and every recorded pair has a decodable image and a UTF-8 caption."""
    assert set(report.skipped) <= REASONS, report.skipped
    stats = ShardReadStats()
    seen = sum(1 for _ in iter_raw_samples(shard, max_member_bytes=LIMITS.max_member_bytes, stats=stats))
    lost = len(stats.lost_keys)  # the sample a broken archive cut off is counted, not dropped
    assert report.n_pairs + report.n_skipped - (1 if report.archive_error else 0) == seen + lost
    assert (report.archive_error is None) == (stats.archive_error is None)
    rows = store.fetch(select_shard_pairs, {"shard_id": shard_id})
    with store.connect() as conn:
        n_skipped = conn.execute("SELECT count(*) FROM skipped_samples WHERE shard_id = $s",
                                 {"s": shard_id}).fetchone()[0]
        sizes = dict(conn.execute("SELECT image_member, width || 'x' || height FROM pairs "
                                  "WHERE shard_id = $s", {"s": shard_id}).fetchall())
    assert (len(rows), n_skipped) == (report.n_pairs, report.n_skipped)
    images: dict[str, bytes] = {}
    with contextlib.suppress(tarfile.TarError, EOFError, OSError, ValueError):  # damaged tail
        for name, data in read_members(shard, {r["image_member"] for r in rows},
                                       max_member_bytes=LIMITS.max_member_bytes):
            images.setdefault(name, data)
    # Later stages locate members by member_offsets: the same bytes, whatever the damage.
    names = [r["image_member"] for r in rows]
    with open(shard, "rb") as handle:
        for name, (offset, size) in zip(names, member_offsets(shard, names), strict=True):
            handle.seek(offset)
            assert handle.read(size) == images[name], name
    for row in rows:
        data = images[row["image_member"]]
        assert hashlib.sha256(data).hexdigest() == row["image_sha256"]
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            assert f"{img.width}x{img.height}" == sizes[row["image_member"]]
        caption = row["caption"]
        assert caption.strip() and caption.encode("utf-8")  # byte-exact: whitespace kept


@pytest.mark.slow  # 40 ingestions into DuckDB, some with worker processes
@FUZZ
@given(data=damaged_shards(), workers=st.sampled_from([1, 2]))
def test_damaged_shards_are_ingested_without_raising(sandbox: Path, store: Store, data: bytes,
                                                      workers: int) -> None:
    shard = sandbox / "shards" / "damaged.tar"
    shard.parent.mkdir(exist_ok=True)
    shard.write_bytes(data)
    config = IngestConfig(**{**LIMITS.__dict__, "workers": workers, "chunk_size": 2})
    problem = shard_file_problem(shard)
    if problem:  # not a tar, or compressed: refused with its reason, nothing changed
        event(f"refused: {problem.split(':')[0]}")
        before = store.fetch(select_shard_pairs, {"shard_id": "damaged"})  # earlier examples'
        with pytest.raises(ShardFileError, match=problem.split(":")[0]):
            ingest_shard(shard, "damaged", store, config)
        assert store.fetch(select_shard_pairs, {"shard_id": "damaged"}) == before
        return
    with time_limit(30):
        report = ingest_shard(shard, "damaged", store, config)
    event(f"pairs: {min(report.n_pairs, 3)}{'+' if report.n_pairs >= 3 else ''}")
    event(f"archive error: {report.archive_error is not None}")
    for reason in report.skipped:
        event(f"skipped: {reason}")
    check_ingested(store, shard, "damaged", report)
    assert_nothing_escaped(sandbox)


# --- random samples: every sample is accounted for, with the reason its content implies -------

def overwrite(data: bytes, at: int, junk: bytes) -> bytes:
    at %= len(data)
    return data[:at] + junk + data[at + len(junk):]


captions_ok = st.text(min_size=1, max_size=120).filter(lambda c: c.strip() != "")
caption_kinds = st.one_of(
    st.tuples(st.just("ok"), captions_ok.map(str.encode)),
    st.tuples(st.just("ok"), captions_ok.map(str.encode)),
    st.tuples(st.just("blank"), st.sampled_from([b"", b"  ", b"\n\t", " \u3000 ".encode()])),
    st.tuples(st.just("bad_utf8"), st.builds(lambda t, junk: t.encode() + b"\xff" + junk,
                                             st.text(max_size=20), st.binary(max_size=20))),
    st.tuples(st.just("too_long"), st.integers(301, 2000).map(lambda n: ("\u00e9" * n).encode())),
    st.tuples(st.just("none"), st.none()),
)
image_kinds = st.one_of(
    st.tuples(st.just("valid"), valid_images),
    st.tuples(st.just("valid"), valid_images),
    st.tuples(st.just("truncated"), valid_images.map(lambda b: b[: len(b) // 2])),
    st.tuples(st.just("garbage"), st.binary(max_size=200).map(lambda b: b"\x00GARBAGE" + b)),
    st.tuples(st.just("foreign"), st.builds(image_bytes, st.sampled_from(["GIF", "BMP", "TIFF", "ICO"]),
                                            st.just("RGB"), st.just((9, 7)), st.integers(0, 99))),
    st.tuples(st.just("mutated"), st.builds(overwrite, valid_images, st.integers(0, 10**4),
                                            st.binary(min_size=4, max_size=4))),
    st.tuples(st.just("none"), st.none()),
)
UNUSABLE_METAS = [b'{"n": 1' + b"0" * 4400 + b"}", b'{"source": "\\ud800"}', b"[" * 5000]
metas = st.one_of(st.none(), st.builds(lambda s: {"source": s}, st.text(min_size=1, max_size=20)),
                  st.binary(max_size=40), st.sampled_from(UNUSABLE_METAS))
keys = st.text(st.characters(blacklist_characters="/\\.\x00", blacklist_categories=("Cs",)),
               min_size=1, max_size=30)
samples = st.lists(st.tuples(keys, image_kinds, caption_kinds, metas), min_size=1, max_size=8,
                   unique_by=lambda s: s[0])


def expected_outcomes(image: tuple[str, bytes | None], caption: tuple[str, bytes | None]) -> set[str]:
    """What validation must conclude, in its documented order of checks."""
    first = {"none": "missing_image"}.get(image[0]) or {
        "none": "missing_caption", "bad_utf8": "caption_not_utf8", "blank": "empty_caption",
        "too_long": "caption_too_long"}.get(caption[0])
    if first:
        return {first}
    return {"valid": {"pair"}, "garbage": {"undecodable_image"}, "foreign": {"undecodable_image"},
            "truncated": {"pair", "undecodable_image"}, "mutated": {"pair", "undecodable_image"}}[image[0]]


def write_samples(path: Path, drawn: list[tuple]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for key, (_, image), (_, caption), meta in drawn:
            extra = b"unknown extensions are ignored" if image is caption is meta is None else None
            for ext, data in (("png", image), ("txt", caption), ("json", meta), ("extra", extra)):
                if data is not None:
                    data = json.dumps(data).encode() if isinstance(data, dict) else data
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))


@pytest.mark.slow  # ingestions into DuckDB
@FUZZ
@given(drawn=samples)
def test_random_samples_are_each_paired_or_skipped_with_their_reason(sandbox: Path, store: Store,
                                                                     drawn: list[tuple]) -> None:
    shard = sandbox / "shards" / "random.tar"
    shard.parent.mkdir(exist_ok=True)
    write_samples(shard, drawn)
    with time_limit(30):
        report = ingest_shard(shard, "random", store, LIMITS)
    assert report.n_pairs + report.n_skipped == len(drawn) and report.archive_error is None
    rows = {r["key"]: r for r in store.fetch(select_shard_pairs, {"shard_id": "random"})}
    with store.connect() as conn:
        skipped = dict(conn.execute("SELECT key, reason FROM skipped_samples WHERE shard_id = $s",
                                    {"s": "random"}).fetchall())
    for key, image, caption, meta in drawn:
        outcome = "pair" if key in rows else skipped[key]
        event(f"outcome: {outcome}")
        assert outcome in expected_outcomes(image, caption), (key, image[0], caption[0], outcome)
        if outcome == "pair":
            row = rows[key]
            assert row["caption"] == caption[1].decode("utf-8")  # byte-exact
            assert row["image_sha256"] == hashlib.sha256(image[1]).hexdigest()
            if isinstance(meta, dict) or meta is None or meta in UNUSABLE_METAS:
                assert row["source"] == (meta["source"] if isinstance(meta, dict) else "random")
    check_ingested(store, shard, "random", report)
    assert_nothing_escaped(sandbox)


# --- bombs, huge members, and the inputs that used to break ingestion -------------------------


def png_declaring(width: int, height: int, rows: int = 8) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` RGB pixels (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    idat = zlib.compress(b"\x00" * (1 + 3 * width) * rows, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    data = bytearray(image_bytes("JPEG", "RGB", (16, 16), 1))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_bombs_and_huge_captions_are_skipped_in_bounded_memory(sandbox: Path, store: Store) -> None:
    text_30mb = "caption " * (30 * 2**20 // 8)
    shard = write_shard(sandbox / "shards" / "bombs.tar", [
        {"key": "png-bomb", "image": png_declaring(50_000, 50_000), "caption": "bomb"},
        {"key": "jpeg-bomb", "image": jpeg_declaring(65_000, 65_000), "caption": "bomb", "ext": "jpg"},
        {"key": "full-bomb", "image": png_declaring(6_000, 6_000, rows=6_000), "caption": "108 MB"},
        {"key": "huge-caption", "image": png_bytes(), "caption": text_30mb},
        {"key": "oversized-caption", "image": png_bytes(), "caption": text_30mb * 2},
        {"key": "fine", "image": png_bytes(), "caption": "a small red square"},
    ])
    del text_30mb
    with peak_rss_growth() as growth, time_limit(60):
        report = ingest_shard(shard, "bombs", store, IngestConfig(workers=2, chunk_size=2))
    assert report.n_pairs == 1 and report.archive_error is None
    assert report.skipped == {"oversized_image": 3, "caption_too_long": 1, "oversized_member": 1}
    # Decoding the 50000^2 bomb alone would take 7.5 GB; the 30 MB caption is held at most ~4x.
    assert growth["bytes"] < 300 * 2**20, f"peak RSS grew by {growth['bytes'] / 2**20:.0f} MiB"
    with pytest.MonkeyPatch.context() as mp:  # Pillow's own guard when the config allows more
        mp.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
        loose = IngestConfig(max_image_pixels=10**10, workers=1)
        with peak_rss_growth() as growth, time_limit(60):
            report = ingest_shard(shard, "bombs", store, loose)
    assert report.skipped["oversized_image"] == 3
    assert growth["bytes"] < 300 * 2**20, f"peak RSS grew by {growth['bytes'] / 2**20:.0f} MiB"
    assert_nothing_escaped(sandbox)


def _tar_with_header(name: str, size: int, *, after: bool = True) -> bytes:
    """Sample 0 complete, then a header declaring ``size`` bytes that the file does not hold."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for member, data in (("000.png", png_bytes()), ("000.txt", b"kept")):
            _add_raw(archive, member, tarfile.REGTYPE, data, "", None)
        _add_raw(archive, name, tarfile.REGTYPE, b"", "", size)
        if after:
            _add_raw(archive, "001.png", tarfile.REGTYPE, png_bytes(), "", None)
    return buffer.getvalue()


def _tar_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            _add_raw(archive, name, tarfile.REGTYPE, data, "", None)
    return buffer.getvalue()


DDS_HEADER = struct.pack("<4s7I44x8I5I", b"DDS ", 124, 0x1007, 16, 16, 0, 0, 0,
                         32, 0x8000, 0, 0, 0, 0, 0, 0, 0x1000, 0, 0, 0, 0)  # unknown pixel format
REGRESSIONS = {  # name: (shard bytes, pairs, skipped) - each of these raised or hung before the fix
    "size-2**80-hung": (_tar_with_header("big.png", 2**80), 1,
                        {"truncated_archive": 1, "truncated_sample": 1}),
    "size-8GiB-3s": (_tar_with_header("big.png", 8**11 - 1), 1,
                     {"truncated_archive": 1, "truncated_sample": 1}),
    "name-not-utf8": (_tar_of([("k\udcff.png", png_bytes()), ("k\udcff.txt", b"c"),
                               ("ok.png", png_bytes()), ("ok.txt", b"c")]), 1,
                      {"unsafe_member_path": 1}),
    "meta-5000-digit-int": (_tar_of([("k.png", png_bytes()), ("k.txt", b"c"),
                                     ("k.json", b'{"n": ' + b"1" * 5000 + b"}")]), 1, {}),
    "dds-in-a-png-member": (_tar_of([("k.png", DDS_HEADER + bytes(1024)), ("k.txt", b"c"),
                                     ("ok.png", png_bytes()), ("ok.txt", b"c")]), 1,
                            {"undecodable_image": 1}),
    "meta-lone-surrogate": (_tar_of([("k.png", png_bytes()), ("k.txt", b"c"),
                                     ("k.json", b'{"source": "\\udcff"}')]), 1, {}),
}


def test_a_compressed_shard_is_refused_with_its_reason(sandbox: Path, store: Store) -> None:
    shard = sandbox / "shards" / "gz.tar"
    shard.parent.mkdir(exist_ok=True)
    shard.write_bytes(gzip.compress(_tar_with_header("big.png", 2**80), mtime=0))
    with time_limit(20), pytest.raises(ShardFileError, match="gzip-compressed"):
        ingest_shard(shard, "gz", store, LIMITS)


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_inputs_that_used_to_raise_or_hang(sandbox: Path, store: Store, case: str) -> None:
    data, n_pairs, skipped = REGRESSIONS[case]
    shard = sandbox / "shards" / "regression.tar"
    shard.parent.mkdir(exist_ok=True)
    shard.write_bytes(data)
    with time_limit(20):
        report = ingest_shard(shard, "regression", store, LIMITS)
    assert (report.n_pairs, report.skipped) == (n_pairs, skipped)
    rows = store.fetch(select_shard_pairs, {"shard_id": "regression"})
    assert [r["source"] for r in rows] == ["regression"] * n_pairs  # unusable meta is ignored
    with time_limit(20):
        check_ingested(store, shard, "regression", report)
