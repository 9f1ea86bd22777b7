"""Ingestion: counts, skip reasons, idempotent re-runs, stable ids."""

from __future__ import annotations

import tarfile
from dataclasses import replace

import pytest
from react_assets.metadata.sql import count_pair_integrity, count_pairs_by_source, select_shard_pairs
from shard_factory import add_member, good_samples, png_bytes, write_shard

from react_assets.corpus.identity import ShardReplaceError
from react_assets.corpus.ingest import IngestConfig, ingest_shard, stable_pair_id

CONFIG = IngestConfig(max_image_pixels=512 * 512, workers=1)


def broken_samples() -> list[dict]:
    good = png_bytes()
    return [
        {"key": "b01", "image": good[: len(good) // 2], "caption": "truncated png"},
        {"key": "b02", "image": b"this is not an image at all", "caption": "text as image"},
        {"key": "b03", "image": good, "caption": None},
        {"key": "b04", "image": good, "caption": b"caf\xe9 \xff not utf-8"},
        {"key": "b05", "image": png_bytes(size=(1024, 1024)), "caption": "too many pixels"},
        {"key": "b06", "image": None, "caption": "no image"},
        {"key": "b07", "image": good, "caption": "   "},
    ]


def test_good_and_broken_samples_are_counted_per_reason(tmp_path, store):
    shard = write_shard(tmp_path / "s.tar", good_samples(5) + broken_samples() + good_samples(1))
    report = ingest_shard(shard, "s", store, CONFIG)
    # the sixth good sample reuses key 000000000: both copies are skipped
    assert report.n_pairs == 4
    assert report.skipped == {
        "caption_not_utf8": 1, "duplicate_key": 2, "empty_caption": 1, "missing_caption": 1,
        "missing_image": 1, "oversized_image": 1, "undecodable_image": 2,
    }
    rows = store.fetch(select_shard_pairs, {"shard_id": "s"})
    assert [r["ordinal"] for r in rows] == list(range(4))
    assert rows[0]["pair_id"] == stable_pair_id("s", "000000001")
    assert rows[0]["source"] == "test" and rows[0]["caption"] == "a red square 1"
    assert len(rows[0]["image_sha256"]) == 64
    skipped = store.fetch(count_pair_integrity)
    assert skipped == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]


def test_members_that_escape_the_folder_or_are_links_are_skipped(tmp_path, store):
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as archive:
        add_member(archive, "../escape.png", png_bytes())
        add_member(archive, "../escape.txt", b"caption")
        add_member(archive, "/abs/key.png", png_bytes())
        add_member(archive, "/abs/key.txt", b"caption")
        add_member(archive, "link.png", b"", kind=tarfile.SYMTYPE, linkname="/etc/passwd")
        add_member(archive, "link.txt", b"caption")
        add_member(archive, "ok.png", png_bytes())
        add_member(archive, "ok.txt", b"fine")
    report = ingest_shard(path, "evil", store, CONFIG)
    assert report.n_pairs == 1
    assert report.skipped == {"unsafe_member_path": 3}
    assert not (tmp_path.parent / "escape.png").exists()


def test_truncated_archive_keeps_complete_samples(tmp_path, store):
    shard = write_shard(tmp_path / "t.tar", good_samples(20))
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    report = ingest_shard(shard, "t", store, CONFIG)
    assert 0 < report.n_pairs < 20
    assert report.skipped.get("truncated_archive") == 1
    assert report.skipped.get("truncated_sample", 0) <= 1
    assert report.archive_error


def test_reingesting_a_shard_replaces_its_rows(tmp_path, store):
    shard = write_shard(tmp_path / "r.tar", good_samples(6))
    first = ingest_shard(shard, "r", store, CONFIG)
    second = ingest_shard(shard, "r", store, IngestConfig(workers=2, chunk_size=2))
    assert first.n_pairs == second.n_pairs == 6
    assert store.fetch(count_pairs_by_source) == [{"source": "test", "n_pairs": 6}]
    write_shard(shard, good_samples(4))
    with pytest.raises(ShardReplaceError, match="its 6 ingested pairs are kept"):
        ingest_shard(shard, "r", store, CONFIG)
    assert store.fetch(count_pairs_by_source) == [{"source": "test", "n_pairs": 6}]
    report = ingest_shard(shard, "r", store, replace(CONFIG, allow_replace=True))
    assert "from 6 to 4 pairs" in report.replaced
    assert store.fetch(count_pairs_by_source) == [{"source": "test", "n_pairs": 4}]


def test_parallel_validation_matches_serial(tmp_path, store):
    shard = write_shard(tmp_path / "p.tar", good_samples(30) + broken_samples())
    serial = ingest_shard(shard, "p", store, CONFIG)
    rows_serial = store.fetch(select_shard_pairs, {"shard_id": "p"})
    parallel = ingest_shard(shard, "p", store, IngestConfig(max_image_pixels=512 * 512, workers=2,
                                                            chunk_size=4))
    assert serial.skipped == parallel.skipped
    assert store.fetch(select_shard_pairs, {"shard_id": "p"}) == rows_serial


def test_missing_shard_is_a_clear_error(tmp_path, store):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ingest_shard(tmp_path / "nope.tar", "nope", store, CONFIG)


def _skipped_details(store, shard_id: str) -> dict[str, tuple[str, str]]:
    with store.connect() as conn:
        rows = conn.execute("SELECT key, reason, detail FROM skipped_samples WHERE shard_id = $s",
                            {"s": shard_id}).fetchall()
    return {key: (reason, detail) for key, reason, detail in rows}


def test_a_key_with_dots_is_explained_in_webdataset_terms(tmp_path, store):
    path = tmp_path / "dots.tar"
    with tarfile.open(path, "w") as archive:
        add_member(archive, "a.b.c.jpg", png_bytes())
        add_member(archive, "a.b.c.txt", b"a caption")
        add_member(archive, "img.png", png_bytes())
        add_member(archive, "img.en.txt", b"a caption under a dotted key")
        add_member(archive, "ok.png", png_bytes())
        add_member(archive, "ok.txt", b"fine")
    report = ingest_shard(path, "dots", store, CONFIG)
    assert report.n_pairs == 1 and report.skipped == {"dotted_key": 2}
    details = _skipped_details(store, "dots")
    assert details["a"] == ("dotted_key", (
        "a.b.c.jpg: the key contains a dot, and webdataset splits a member name at its first "
        "dot, so 'a.b.c.jpg' is read as key 'a' with extension 'b.c.jpg', and sample 'a' has no "
        "image; name the members without dots in the key (e.g. 'a_b_c.jpg')"))
    reason, detail = details["img"]
    assert reason == "dotted_key"
    assert "'img.en.txt' is read as key 'img' with extension 'en.txt'" in detail
    assert "sample 'img' has no caption" in detail


def test_empty_and_unidentifiable_images_name_their_member(tmp_path, store):
    shard = write_shard(tmp_path / "e.tar", [
        {"key": "empty", "image": b"", "caption": "a 0-byte png"},
        {"key": "junk", "image": b"not an image at all", "caption": "text as image"},
        {"key": "fine", "image": png_bytes(), "caption": "a red square"},
    ])
    report = ingest_shard(shard, "e", store, CONFIG)
    assert report.n_pairs == 1 and report.skipped == {"undecodable_image": 2}
    details = _skipped_details(store, "e")
    assert details["empty"] == ("undecodable_image", "empty.png: empty image file (0 bytes)")
    assert details["junk"] == ("undecodable_image", (
        "junk.png: Pillow cannot identify it as a JPEG/PNG/WEBP image (its first bytes are "
        "b'not an image at ')"))
