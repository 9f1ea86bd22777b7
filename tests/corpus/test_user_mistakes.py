"""A user's mistakes lose nothing: one test per mistake a new user made (issue 14).

Each test makes the mistake and asserts the message the user now sees and what is kept. Real
img2dataset output (tests/fixtures/img2dataset, see its README) is the corpus where it matters.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from react_assets.metadata.sql import count_pairs_by_source, select_shard_ids, select_shard_pairs
from shard_factory import add_member, good_samples, png_bytes, write_shard

from react_assets.corpus.checks import shard_has_pairs
from react_assets.corpus.identity import ShardReplaceError
from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.intake import LandingScan, clear_landed, find_landed, scan_landing, take_landed
from react_assets.corpus.shards import ShardFileError
from react_assets.domains.registry import register_domains
from react_assets.domains.spec import DomainSpecError, load_domain_catalog
from react_assets.files.paths import ReactPaths, check_writable

FIXTURES = Path(__file__).parents[1] / "fixtures" / "img2dataset"
CONFIG = IngestConfig(workers=1)
REPO = Path(__file__).resolve().parents[2]


def land_fixture(paths: ReactPaths, name: str, landed_as: str = "") -> Path:
    """Copy one img2dataset shard (tar + parquet + stats) into landing, as another run would."""
    landed_as = landed_as or name
    for end in (".tar", ".parquet", "_stats.json"):
        shutil.copy(FIXTURES / f"{name}{end}", paths.landing / f"{landed_as}{end}")
    return paths.landing / f"{landed_as}.tar"


def sql_rows(store, query: str) -> list[tuple]:
    """A test's own look at the tables (the library's statements live in sql/queries)."""
    with store.connect() as conn:
        return conn.execute(query).fetchall()


def look(paths: ReactPaths) -> LandingScan:
    """The landing sensor's look at landing/ (it moves nothing), every file taken as settled."""
    return scan_landing(paths.landing, {}, {}, time.time(), settle_seconds=0.0)


def take(paths: ReactPaths, tar: Path) -> tuple[str, str]:
    """(shard id, message) of ``tar`` as the pipeline takes it: the tick gives it its id, then
    the ingestion run finds it in landing/ and moves it into shards/ (``corpus_shards``)."""
    [shard] = look(paths).ready
    assert shard.path == tar
    found = find_landed(shard.shard_id, paths.landing)
    assert found == tar
    return shard.shard_id, take_landed(found, shard.shard_id, paths.shards)


def land_and_ingest(paths: ReactPaths, store, tar: Path) -> tuple[str, object]:
    shard_id, message = take(paths, tar)
    assert message.startswith(f"moved {tar.name} to {paths.shard_tar(shard_id)}"), message
    assert not tar.exists()
    return shard_id, ingest_shard(paths.shard_tar(shard_id), shard_id, store, CONFIG)


# --- shard names collide -------------------------------------------------------------------------

def test_two_corpora_with_the_same_shard_name_both_keep_their_pairs(react_paths, store):
    first_id, first = land_and_ingest(react_paths, store, land_fixture(react_paths, "00000"))
    # a second img2dataset run also names its first shard 00000.tar
    second_id, second = land_and_ingest(react_paths, store,
                                        land_fixture(react_paths, "00001", landed_as="00000"))
    assert first_id != second_id and first_id.startswith("00000-") and second_id.startswith("00000-")
    assert (first.n_pairs, second.n_pairs) == (6, 6)
    assert [r["shard_id"] for r in store.fetch(select_shard_ids)] == sorted([first_id, second_id])
    kept = store.fetch(select_shard_pairs, {"shard_id": first_id})
    assert len(kept) == 6 and {r["key"] for r in kept} == {f"{i:06d}" for i in range(6)}
    assert react_paths.shard_tar(first_id).read_bytes() == (FIXTURES / "00000.tar").read_bytes()


def test_a_corrected_shard_under_the_same_name_is_a_new_version_with_a_warning(react_paths, store):
    first_id, _ = land_and_ingest(react_paths, store, land_fixture(react_paths, "00000"))
    corrected = write_shard(react_paths.landing / "00000.tar", good_samples(3))
    shard_id, message = take(react_paths, corrected)
    assert shard_id != first_id and react_paths.shard_tar(shard_id).exists()
    assert "WARNING" in message and first_id in message
    assert react_paths.shard_tar(first_id).exists()  # the first version is untouched
    assert len(store.fetch(select_shard_pairs, {"shard_id": first_id})) == 6


def test_the_same_bytes_landed_again_are_a_no_op(react_paths, store):
    shard_id, _ = land_and_ingest(react_paths, store, land_fixture(react_paths, "00000"))
    again = land_fixture(react_paths, "00000")
    assert [s.shard_id for s in look(react_paths).ready] == [shard_id]
    # the shard is ingested: the sensor asks a cleanup run, which removes the landed copy
    message = clear_landed(again, react_paths.shards)
    assert "same bytes" in message and shard_id in message
    assert list(react_paths.landing.iterdir()) == []
    assert sorted(p.name for p in react_paths.shards.iterdir()) == [
        f"{shard_id}.parquet", f"{shard_id}.tar", f"{shard_id}_stats.json"]


def test_ingesting_a_changed_tar_under_an_ingested_id_is_refused_and_keeps_the_pairs(
        tmp_path, store):
    tar = write_shard(tmp_path / "s.tar", good_samples(6))
    ingest_shard(tar, "s", store, CONFIG)
    write_shard(tar, good_samples(6, source="other"))
    with pytest.raises(ShardReplaceError, match=r"shard s: its tar changed .* 6 ingested pairs "
                                                r"are kept.*allow_replace"):
        ingest_shard(tar, "s", store, CONFIG)
    assert store.fetch(count_pairs_by_source) == [{"source": "test", "n_pairs": 6}]
    ingest_shard(tar, "s", store, replace(CONFIG, allow_replace=True))  # the explicit request
    assert store.fetch(count_pairs_by_source) == [{"source": "other", "n_pairs": 6}]


# --- a bad config value wipes a shard ------------------------------------------------------------

def test_a_config_that_would_skip_ingested_pairs_is_refused_and_keeps_them(tmp_path, store):
    tar = write_shard(tmp_path / "s.tar", good_samples(5))
    ingest_shard(tar, "s", store, CONFIG)
    with pytest.raises(ShardReplaceError, match="it would go from 5 to 0 pairs"):
        ingest_shard(tar, "s", store, replace(CONFIG, max_caption_chars=3))
    assert len(store.fetch(select_shard_pairs, {"shard_id": "s"})) == 5


# --- spec typos are silent ----------------------------------------------------------------------

SPEC = """domains:
  - name: pets
    classes: [cat, dog]
    templates: ['a photo of a {{}}.']
    {extra}
"""


@pytest.mark.parametrize(("typo", "nearest"), [
    ("retreival: {mode: text-to-text}", "retrieval"),
    ("dataset: []", "datasets"),
    ("variant: [gated-image]", "variants"),
])
def test_a_misspelt_domain_key_is_refused_with_the_nearest_key(tmp_path, typo, nearest):
    spec = tmp_path / "pets.yaml"
    spec.write_text(SPEC.format(extra=typo))
    with pytest.raises(DomainSpecError, match=f"unknown key '{typo.split(':')[0]}'; did you mean "
                                              f"'{nearest}'"):
        load_domain_catalog(spec)


def test_a_misspelt_classes_key_names_the_unknown_key(tmp_path):
    spec = tmp_path / "pets.yaml"
    spec.write_text("domains:\n  - name: pets\n    clases: [cat]\n    templates: ['{}']\n")
    with pytest.raises(DomainSpecError, match="unknown key 'clases'; did you mean 'classes'"):
        load_domain_catalog(spec)


def test_misspelt_keys_elsewhere_are_refused_too(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.format(extra="") + "general_dataset: []\n")
    with pytest.raises(DomainSpecError, match="did you mean 'general_datasets'"):
        load_domain_catalog(spec)
    spec.write_text(SPEC.format(extra="datasets: [{name: d, path: x, metrc: accuracy}]"))
    with pytest.raises(DomainSpecError, match=r"datasets\[0\]: unknown key 'metrc'; did you mean "
                                              "'metric'"):
        load_domain_catalog(spec)
    spec.write_text(SPEC.format(extra="retrieval: {k_per_querry: 5}"))
    with pytest.raises(DomainSpecError, match="unknown retrieval setting 'k_per_querry'; did you "
                                              "mean 'k_per_query'"):
        load_domain_catalog(spec)


@pytest.mark.parametrize("name", ["pets.YAML", "pets.Yml", "pets.JSON"])
def test_spec_suffixes_are_matched_without_regard_to_case(tmp_path, store, name):
    spec = tmp_path / name
    text = SPEC.format(extra="")
    if name.lower().endswith(".json"):
        text = '{"domains": [{"name": "pets", "classes": ["cat"], "templates": ["a {}"]}]}'
    spec.write_text(text)
    assert register_domains(store, spec) == ["pets"]


def test_a_dataset_folder_that_does_not_exist_is_refused_at_registration(tmp_path, store):
    spec = tmp_path / "pets.yaml"
    spec.write_text(SPEC.format(extra="datasets: [{name: pets-test, path: eval/missing}]"))
    with pytest.raises(DomainSpecError, match=r"dataset 'pets-test' \(imagefolder\) needs a folder "
                                              rf"at {tmp_path / 'eval' / 'missing'}"):
        register_domains(store, spec)
    assert sql_rows(store, "SELECT count(*) FROM domains") == [(0,)]
    (tmp_path / "eval" / "missing").mkdir(parents=True)
    assert register_domains(store, spec) == ["pets"]


# --- .tar.gz and upper-case shards ---------------------------------------------------------------

def test_a_tar_gz_shard_is_refused_with_a_message_and_kept(react_paths, store):
    landed = react_paths.landing / "00000.tar.gz"
    landed.write_bytes(gzip.compress((FIXTURES / "00000.tar").read_bytes()))
    scan = look(react_paths)
    assert scan.ready == [] and [r.path for r in scan.refused] == [landed]
    assert "decompress it" in scan.refused[0].reason  # named in the tick
    message = clear_landed(landed, react_paths.shards)  # the cleanup run the tick asks
    assert "is not a shard" in message and "decompress it" in message
    kept = react_paths.landing / "rejected" / "00000.tar.gz"
    assert kept.exists() and "compressed_archive" in (
        react_paths.landing / "rejected" / "00000.tar.gz.reason.txt").read_text()
    renamed = react_paths.shards / "x.tar"
    renamed.write_bytes(kept.read_bytes())  # gzip bytes under a .tar name
    with pytest.raises(ShardFileError, match="gzip-compressed"):
        ingest_shard(renamed, "x", store, CONFIG)


def test_an_upper_case_tar_suffix_lands(react_paths, store):
    tar = land_fixture(react_paths, "00000")
    upper = tar.with_name("00000.TAR")
    tar.rename(upper)
    shard_id, report = land_and_ingest(react_paths, store, upper)
    assert report.n_pairs == 6 and react_paths.shard_tar(shard_id).exists()
    assert react_paths.shard_tar(shard_id).with_suffix(".parquet").exists()


# --- empty is green ------------------------------------------------------------------------------

def test_an_empty_img2dataset_tar_fails_the_shard_check(react_paths, store):
    shard_id, report = land_and_ingest(react_paths, store, land_fixture(react_paths, "00002"))
    assert report.n_pairs == 0 and report.n_members == 0
    outcome = shard_has_pairs(store, shard_id)
    assert not outcome.passed and outcome.metadata["problems"].startswith("0 pairs")


def test_images_without_captions_fail_the_shard_check(tmp_path, store):
    tar = write_shard(tmp_path / "nocap.tar",
                      [{"key": f"{i:03d}", "image": png_bytes(), "caption": None} for i in range(4)])
    report = ingest_shard(tar, "nocap", store, CONFIG)
    assert report.skipped == {"missing_caption": 4}
    outcome = shard_has_pairs(store, "nocap")
    assert not outcome.passed and "100% of 4 samples skipped" in outcome.metadata["problems"]


def test_a_mostly_skipped_shard_fails_and_a_good_one_passes(tmp_path, store):
    bad = good_samples(2) + [{"key": f"b{i}", "image": b"junk", "caption": "x"} for i in range(3)]
    ingest_shard(write_shard(tmp_path / "m.tar", bad), "m", store, CONFIG)
    assert not shard_has_pairs(store, "m").passed  # 3 of 5 skipped > 50%
    assert shard_has_pairs(store, "m", max_skipped_fraction=0.6).passed
    ingest_shard(write_shard(tmp_path / "g.tar", good_samples(4)), "g", store, CONFIG)
    assert shard_has_pairs(store, "g").passed


def test_an_html_page_saved_as_tar_is_refused_and_never_a_shard(react_paths, store):
    page = react_paths.landing / "00000.tar"
    html = b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>\n" * 20
    page.write_bytes(html)
    scan = look(react_paths)
    assert scan.ready == [] and [r.path for r in scan.refused] == [page]  # no id, no partition
    assert "not_a_tar" in scan.refused[0].reason
    message = clear_landed(page, react_paths.shards)  # the cleanup run the tick asks
    assert "not_a_tar" in message and "<!DOCTYPE html>" in message
    assert list(react_paths.shards.iterdir()) == []
    assert (react_paths.landing / "rejected" / "00000.tar").read_bytes() == html  # kept
    with pytest.raises(ShardFileError, match="not_a_tar"):
        ingest_shard(react_paths.landing / "rejected" / "00000.tar", "page", store, CONFIG)
    assert store.fetch(select_shard_ids) == []


# --- a truncated tar undercounts ------------------------------------------------------------------

def ten_sample_shard(folder: Path, with_parquet: bool) -> Path:
    tar = write_shard(folder / "t.tar", good_samples(10))
    if with_parquet:
        keys = [f"{i:09d}" for i in range(10)]
        pq.write_table(pa.table({"key": keys, "url": [f"http://x/{k}.png" for k in keys],
                                 "status": ["success"] * 10}), tar.with_suffix(".parquet"))
    data = tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2])
    return tar


def test_every_sample_lost_in_a_truncated_tar_is_counted(tmp_path, store):
    report = ingest_shard(ten_sample_shard(tmp_path, with_parquet=True), "t", store, CONFIG)
    per_sample = {k: v for k, v in report.skipped.items() if k != "truncated_archive"}
    assert report.n_pairs + sum(per_sample.values()) == 10, report.skipped
    assert per_sample.get("missing_from_tar", 0) >= 1 and report.skipped["truncated_archive"] == 1
    lost = sql_rows(store, "SELECT key FROM skipped_samples WHERE shard_id = 't' "
                           "AND reason IN ('missing_from_tar', 'truncated_sample')")
    pairs = {r["key"] for r in store.fetch(select_shard_pairs, {"shard_id": "t"})}
    assert len(lost) + len(pairs) == 10
    assert pairs | {key for (key,) in lost} == {f"{i:09d}" for i in range(10)}


def test_without_a_parquet_the_sample_being_read_is_counted_and_the_rest_named_unknown(
        tmp_path, store):
    report = ingest_shard(ten_sample_shard(tmp_path, with_parquet=False), "t", store, CONFIG)
    assert report.skipped.get("truncated_sample") == 1
    [(detail,)] = sql_rows(store, "SELECT detail FROM skipped_samples "
                                  "WHERE reason = 'truncated_archive'")
    assert "unknown (no img2dataset .parquet" in detail


# --- captions change -----------------------------------------------------------------------------

def test_captions_are_byte_exact_and_urls_come_from_the_parquet(tmp_path, store):
    report = ingest_shard(FIXTURES / "00000.tar", "real", store, CONFIG)
    assert report.n_pairs == 6 and report.n_skipped == 0
    rows = {r["key"]: r for r in store.fetch(select_shard_pairs, {"shard_id": "real"})}
    with tarfile.open(FIXTURES / "00000.tar") as archive:
        for key, row in rows.items():
            raw = archive.extractfile(f"{key}.txt").read()
            assert row["caption"].encode("utf-8") == raw
    assert rows["000000"]["caption"] == "a colour square 0  "  # trailing spaces kept
    urls = dict(sql_rows(store, "SELECT key, url FROM pairs WHERE shard_id = 'real'"))
    assert urls == {k: f"http://127.0.0.1:8765/img{int(k)}.png" for k in rows}


# --- unwritable homes ----------------------------------------------------------------------------

def _read_only_mount_available() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


def run_on_read_only(folder: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``command`` (sh) with ``folder`` bind-mounted read-only in a private mount namespace."""
    script = f'mount --bind -o ro "$1" "$1" && {command}'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(folder)], env=env,
                          capture_output=True, text=True, timeout=300, check=False, cwd=REPO)


def test_a_react_home_below_a_file_is_refused_naming_the_path(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=f"REACT_HOME {tmp_path / 'file' / 'rh'} cannot"):
        ReactPaths(tmp_path / "file" / "rh").create()


@pytest.mark.slow  # a private read-only mount and the scripts' shell in it
@pytest.mark.skipif(not _read_only_mount_available(), reason="no unshare -m on this machine")
def test_a_read_only_react_home_is_refused_before_anything_is_touched(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    home = ro / "react-home"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "REACT_HOME": str(home),
           "DAGSTER_HOME": str(home / "dagster_home"), "HOME": str(tmp_path)}
    code = ("from react_assets.files.paths import ReactPaths; from pathlib import Path; import os; "
            "ReactPaths(Path(os.environ['REACT_HOME'])).create()")
    library = run_on_read_only(ro, f'exec "{sys.executable}" -c "{code}"', env)
    assert library.returncode != 0
    assert f"PermissionError: REACT_HOME {home} is not writable" in library.stderr
    assert "Read-only file system" in library.stderr
    location = run_on_read_only(ro, f'exec "{sys.executable}" -c "import dagster_project.definitions"',
                                env)
    assert f"REACT_HOME {home} is not writable" in location.stderr
    assert "sqlalchemy" not in location.stderr
    script = run_on_read_only(ro, f'. "{REPO}/scripts/env.sh"; echo reached', env)
    assert script.returncode == 1 and "reached" not in script.stdout
    assert f"error: REACT_HOME={home} is not writable" in script.stderr
    assert list(ro.iterdir()) == []  # nothing was created


def test_check_writable_accepts_a_home_to_be_created(tmp_path):
    check_writable(tmp_path / "a" / "b", "REACT_HOME")
    assert list(tmp_path.iterdir()) == []  # only a probe, removed


def test_a_tar_holding_only_unknown_members_is_read_not_refused(tmp_path, store):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        add_member(archive, "notes.md", b"x")
    (tmp_path / "a.tar").write_bytes(buffer.getvalue())
    report = ingest_shard(tmp_path / "a.tar", "a", store, CONFIG)
    assert (report.n_members, report.n_pairs, report.archive_error) == (1, 0, None)
