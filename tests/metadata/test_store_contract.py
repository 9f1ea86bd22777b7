"""The metadata store's contract, on every backend the profiles use (SQLite and PostgreSQL
catalogs), each clause through the library functions that rely on it: retrieval sets kept whole
and retained by rule, evaluations of separate runs kept, concurrent writers with a reader, a
writer killed mid-transaction, lineage read as of the model's snapshot, upserts (also by writers
of the same new key at once), the bounded retry of conflicting commits, and reads that a commit
tore (SQLite catalog) read again.

Child processes are spawned (a fork would copy this process's DuckDB threads mid-flight); each
opens its own store from the test's catalog.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
import traceback

import duckdb
import pyarrow as pa
import pytest
from react_assets.metadata.sql import (
    delete_shard_pairs,
    insert_pairs,
    select_retrieval_sets,
    select_shard,
    select_shard_pair_ids,
    upsert_model,
    upsert_shard,
)

from react_assets.corpus.ingest import PAIR_SCHEMA
from react_assets.customize.model_lineage import model_lineage
from react_assets.domains.settings import RetrievalConfig
from react_assets.metadata import RetryPolicy, Store, WriteConflict, insert_table
from react_assets.metadata import store as store_module
from react_assets.metadata.engine import Catalog
from react_assets.retrieve.sets import (
    RetrievalRetention,
    latest_retrieval_set,
    retrieval_set_pair_ids,
    store_retrieval_set,
)

SPAWN = multiprocessing.get_context("spawn")
CHILD_TIMEOUT_S = 120


# --- rows and writes, as the stages make them ------------------------------------------------

def pair_table(shard_id: str, pair_ids: list[int]) -> pa.Table:
    return pa.Table.from_pylist([{
        "pair_id": pid, "shard_id": shard_id, "ordinal": i, "key": f"{shard_id}/{pid}",
        "image_member": f"{pid}.png", "caption": f"caption {pid}", "source": "test", "width": 8,
        "height": 8, "image_bytes": 10, "image_sha256": f"{pid:064x}", "url": None, "meta": None,
    } for i, pid in enumerate(pair_ids)], schema=PAIR_SCHEMA)


def shard_params(shard_id: str, n_pairs: int, tar_sha256: str) -> dict:
    return {"shard_id": shard_id, "path": f"shards/{shard_id}.tar", "tar_sha256": tar_sha256,
            "n_members": 2 * n_pairs, "n_pairs": n_pairs, "n_skipped": 0, "skipped": "{}"}


def ingest(store: Store, shard_id: str, pair_ids: list[int], tar_sha256: str = "tar") -> None:
    """(Re-)ingest a shard as the corpus stage does: its old pairs out, the new ones in, its
    record replaced, in one transaction."""
    table = pair_table(shard_id, pair_ids)

    def write(conn) -> None:
        conn.execute(delete_shard_pairs, {"shard_id": shard_id})
        insert_table(conn, insert_pairs, table)
        conn.execute(upsert_shard, shard_params(shard_id, len(pair_ids), tar_sha256))

    store.write(write, what=f"ingest shard {shard_id}")


def retrievals(pair_ids: list[int], domain: str = "shapes") -> pa.Table:
    return pa.Table.from_pylist([
        {"domain": domain, "class_index": i % 2, "class_name": ["circle", "square"][i % 2],
         "pair_id": pid, "score": 1.0 - i / 100, "rank": i // 2, "mode": "text-to-image"}
        for i, pid in enumerate(pair_ids)])


def retrieve(store: Store, pair_ids: list[int], *, k: int, keep: int = 3,
             domain: str = "shapes") -> str:
    return store_retrieval_set(store, domain=domain, rows=retrievals(pair_ids, domain),
                               config=RetrievalConfig(k_per_query=k), base_model_id="base@1",
                               n_queries=2, stats={"k": k},
                               retention=RetrievalRetention(keep_latest=keep))


def model_params(model_id: str, digest: str | None, *, snapshot: int | None = None,
                 checkpoint: str = "/ckpt", config: dict | None = None) -> dict:
    return {"model_id": model_id, "parent_model_id": "base@1", "kind": "gated-image",
            "domain": "shapes", "arch": "react-tiny", "pretrained": None,
            "checkpoint": checkpoint, "retrieval_digest": digest, "metadata_snapshot": snapshot,
            "config": json.dumps(config or {}), "mlflow_run_id": None, "mlflow_model_uri": None,
            "dagster_run_id": "run", "spec_digest": None}


def rows(store: Store, sql: str, params: list | dict | None = None) -> list[tuple]:
    """A test's own look at the current tables (store-internal SQL)."""
    return store.read(lambda conn: conn.execute(sql, params or []).fetchall())


def set_digests(store: Store, domain: str = "shapes") -> list[str]:
    return [r["set_digest"] for r in store.fetch(select_retrieval_sets, {"domain": domain})]


# --- retrieval sets ---------------------------------------------------------------------------

def test_re_retrievals_keep_both_sets_and_all_their_rows(store):
    first = retrieve(store, [0, 1, 2, 3], k=10)
    second = retrieve(store, [10, 11, 12, 13, 14, 15], k=20)
    assert first != second
    assert set_digests(store) == [second, first]
    assert retrieval_set_pair_ids(store, first) == (0, 1, 2, 3)
    assert retrieval_set_pair_ids(store, second) == (10, 11, 12, 13, 14, 15)
    assert latest_retrieval_set(store, "shapes")["set_digest"] == second
    assert rows(store, "SELECT set_digest, count(*) FROM retrievals GROUP BY ALL ORDER BY 2") == [
        (first, 4), (second, 6)]


def test_retention_drops_only_sets_no_model_names_beyond_the_newest(store):
    used = retrieve(store, [0, 1], k=1, keep=2)
    store.execute(upsert_model, model_params("react-shapes@a", used))
    # an imported model names no set: its NULL digest must not make every set look unused
    store.execute(upsert_model, model_params("imported@x", None, config={"origin": "imported"}))
    dropped = retrieve(store, [2, 3], k=2, keep=2)
    kept = [retrieve(store, [4, 5], k=3, keep=2), retrieve(store, [6, 7], k=4, keep=2)]
    assert set_digests(store) == [kept[1], kept[0], used]
    assert retrieval_set_pair_ids(store, dropped) == ()
    assert rows(store, "SELECT DISTINCT pair_id FROM retrievals ORDER BY 1") == [
        (0,), (1,), (4,), (5,), (6,), (7,)]
    assert model_lineage(store, "react-shapes@a").pair_ids == (0, 1)


# --- evaluations ------------------------------------------------------------------------------

def test_evaluations_of_separate_runs_are_all_kept_and_a_re_evaluation_replaces_its_own(store):
    # imports torch: here, not at the top, so that the spawned children don't
    from react_assets.evaluate.domain import (
        DomainEvaluation,
        EvaluatedModel,
        store_domain_evaluation,
    )

    def evaluate(model_id: str, recall: float) -> int:
        model = EvaluatedModel(model_id, "base" if model_id == "base@1" else "gated-image",
                               bundle=None)
        evaluation = DomainEvaluation("shapes", retrieval={
            (model_id, "captions"): {"recall@1": recall, "recall@5": recall + 0.1}})
        return store_domain_evaluation(store, evaluation, [model])

    models = {"base@1": 0.1, "react-shapes@a": 0.2, "react-shapes@b": 0.3}
    for model_id, recall in models.items():  # one run per model
        assert evaluate(model_id, recall) == 2
    assert evaluate("react-shapes@a", 0.5) == 2  # re-evaluated
    figures = rows(store, "SELECT model_id, metric, round(value, 6) FROM evaluations "
                          "WHERE domain = 'shapes' ORDER BY model_id, metric")
    assert figures == [("base@1", "recall@1", 0.1), ("base@1", "recall@5", 0.2),
                       ("react-shapes@a", "recall@1", 0.5), ("react-shapes@a", "recall@5", 0.6),
                       ("react-shapes@b", "recall@1", 0.3), ("react-shapes@b", "recall@5", 0.4)]


# --- concurrent writers and a reader ----------------------------------------------------------

N_WRITERS, N_TRANSACTIONS, N_PAIRS, KEEP = 4, 15, 5, 2
INGESTERS = (0, 1)  # the other writers retrieve


def writer_pair_ids(writer: int, generation: int) -> list[int]:
    return [writer * 100_000 + generation * 100 + j for j in range(N_PAIRS)]


def _writer(catalog: Catalog, writer: int, go, errors) -> None:
    """Spawn target: N_TRANSACTIONS writes, each inserting new rows and deleting older ones;
    an ingester re-ingests its shard, a retriever adds a set to its domain (retention drops)."""
    try:
        store = Store(catalog)
        store.snapshot_id()  # attached before the start
        go.wait(CHILD_TIMEOUT_S)
        for generation in range(N_TRANSACTIONS):
            ids = writer_pair_ids(writer, generation)
            if writer in INGESTERS:
                ingest(store, f"w{writer}", ids, tar_sha256=f"gen-{generation}")
            else:
                retrieve(store, ids, k=generation + 1, keep=KEEP, domain=f"d{writer}")
    except BaseException:
        errors.put(f"writer {writer}: {traceback.format_exc()}")
        raise


def _check_snapshot(store: Store, snapshot: int) -> None:
    """What a reader must see in any one snapshot: each shard's pairs all of one ingestion,
    matching its record; each domain at most KEEP sets, each with all its rows."""
    def query(sql: str) -> list[tuple]:
        return rows(store, "WITH p AS (FROM pairs AT (VERSION => $snap)), "
                           "s AS (FROM shards AT (VERSION => $snap)), "
                           "rs AS (FROM retrieval_sets AT (VERSION => $snap)), "
                           "r AS (FROM retrievals AT (VERSION => $snap)) " + sql,
                    {"snap": snapshot})

    shards = query("SELECT p.shard_id, count(*), min(p.pair_id // 100 % 1000), "
                   "max(p.pair_id // 100 % 1000), any_value(s.tar_sha256), "
                   "any_value(s.n_pairs) FROM p JOIN s USING (shard_id) GROUP BY ALL")
    n_shards = query("SELECT count(*) FROM s")[0][0]
    sets = query("SELECT rs.domain, rs.set_digest, rs.n_pairs, count(r.pair_id) "
                 "FROM rs LEFT JOIN r USING (set_digest) GROUP BY ALL")
    orphans = query("SELECT count(*) FROM r WHERE set_digest NOT IN "
                    "(SELECT set_digest FROM rs)")[0][0]
    assert len(shards) == n_shards, (snapshot, shards, n_shards)
    for shard_id, n, low, high, tar, n_recorded in shards:
        assert n == n_recorded == N_PAIRS and low == high and tar == f"gen-{low}", (
            snapshot, shard_id, n, low, high, tar)
    for domain, digest, n_pairs, n_rows in sets:
        assert n_rows == n_pairs == N_PAIRS, (snapshot, domain, digest, n_rows)
    per_domain = [d for d, *_ in sets]
    assert all(per_domain.count(d) <= KEEP for d in per_domain), (snapshot, sets)
    assert orphans == 0, snapshot
    for writer in range(N_WRITERS):
        if writer not in INGESTERS:
            newest = latest_retrieval_set(store, f"d{writer}", snapshot=snapshot)
            if newest is not None:
                generation = newest["k_per_query"] - 1
                assert retrieval_set_pair_ids(store, newest["set_digest"], snapshot=snapshot) \
                    == tuple(writer_pair_ids(writer, generation))


def _reader(catalog: Catalog, ready, stop, errors, reads) -> None:
    """Spawn target: read snapshot after snapshot until ``stop``; any failure is reported.
    Puts the snapshots it read."""
    try:
        store, seen = Store(catalog), set()
        while True:
            stopping = stop.is_set()
            snapshot = store.snapshot_id()
            _check_snapshot(store, snapshot)
            seen.add(snapshot)
            ready.set()
            if stopping:
                break
        reads.put(sorted(seen))
    except BaseException:
        errors.put(f"reader: {traceback.format_exc()}")
        raise


@pytest.mark.slow  # spawns a reader and the writers: interpreters of their own
def test_concurrent_writers_and_a_reader(store):
    go, ready, stop = SPAWN.Event(), SPAWN.Event(), SPAWN.Event()
    errors, reads = SPAWN.Queue(), SPAWN.Queue()
    reader = SPAWN.Process(target=_reader, args=(store.catalog, ready, stop, errors, reads))
    writers = [SPAWN.Process(target=_writer, args=(store.catalog, w, go, errors))
               for w in range(N_WRITERS)]
    started = time.monotonic()
    try:
        reader.start()
        for process in writers:
            process.start()
        while not ready.wait(0.2):
            assert reader.is_alive() and time.monotonic() - started < CHILD_TIMEOUT_S, (
                f"the reader never finished a read: {errors.get(timeout=5)}")
        go.set()
        for process in writers:
            process.join(CHILD_TIMEOUT_S - (time.monotonic() - started))
        stop.set()
        reader.join(30)
    finally:
        for process in [reader, *writers]:
            if process.is_alive():
                process.kill()
                process.join(5)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures, "\n".join(failures)
    assert [p.exitcode for p in [reader, *writers]] == [0] * (N_WRITERS + 1)
    seen = reads.get(timeout=5)
    assert len(seen) >= 3, f"the reader read only snapshots {seen} while the writers wrote"

    last = N_TRANSACTIONS - 1
    for writer in INGESTERS:
        assert [r["pair_id"] for r in store.fetch(select_shard_pair_ids,
                                                  {"shard_id": f"w{writer}"})] \
            == writer_pair_ids(writer, last)
        assert store.fetch(select_shard, {"shard_id": f"w{writer}"})[0]["tar_sha256"] \
            == f"gen-{last}"
    assert rows(store, "SELECT count(*) FROM pairs") == [(len(INGESTERS) * N_PAIRS,)]
    assert rows(store, "SELECT count(*) FROM shards") == [(len(INGESTERS),)]
    retrievers = [w for w in range(N_WRITERS) if w not in INGESTERS]
    for writer in retrievers:
        sets = store.fetch(select_retrieval_sets, {"domain": f"d{writer}"})
        assert [(s["k_per_query"], s["retrieval_no"]) for s in sets] == [
            (N_TRANSACTIONS, N_TRANSACTIONS), (N_TRANSACTIONS - 1, N_TRANSACTIONS - 1)]
        for s, generation in zip(sets, (last, last - 1), strict=True):
            assert retrieval_set_pair_ids(store, s["set_digest"]) == tuple(
                writer_pair_ids(writer, generation))
    assert rows(store, "SELECT count(*) FROM retrievals") == [
        (len(retrievers) * KEEP * N_PAIRS,)]
    _check_snapshot(store, store.snapshot_id())


# --- a writer killed mid-transaction ----------------------------------------------------------

def _stalled_writer(catalog: Catalog, inside) -> None:
    """Spawn target: begin a write, insert rows, then wait inside the transaction (killed)."""
    def work(conn) -> None:
        insert_table(conn, insert_pairs, pair_table("ghost", list(range(500, 600))))
        conn.execute(upsert_shard, shard_params("ghost", 100, "ghost"))
        conn.execute("DELETE FROM pairs WHERE shard_id = 'keep'")
        # the statements ran: their rows and files exist within this transaction
        assert conn.execute("SELECT count(*) FROM pairs WHERE shard_id = 'ghost'").fetchone() \
            == (100,)
        inside.set()
        time.sleep(CHILD_TIMEOUT_S)

    Store(catalog).write(work, what="stalled write")


def test_a_writer_killed_mid_transaction_leaves_nothing_and_writing_goes_on(store):
    ingest(store, "keep", [1, 2, 3])
    before = store.snapshot_id()
    inside = SPAWN.Event()
    child = SPAWN.Process(target=_stalled_writer, args=(store.catalog, inside))
    child.start()
    try:
        assert inside.wait(CHILD_TIMEOUT_S), f"the writer never got inside (exit {child.exitcode})"
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == -signal.SIGKILL
    assert store.snapshot_id() == before
    assert rows(store, "SELECT shard_id, count(*) FROM pairs GROUP BY ALL") == [("keep", 3)]
    assert store.fetch(select_shard, {"shard_id": "ghost"}) == []
    ingest(store, "ghost", [7, 8])  # the catalog is not left locked
    ingest(store, "keep", [4])
    assert rows(store, "SELECT shard_id, list(pair_id ORDER BY pair_id) FROM pairs "
                       "GROUP BY ALL ORDER BY 1") == [("ghost", [7, 8]), ("keep", [4])]
    assert store.snapshot_id() > before


# --- time travel ------------------------------------------------------------------------------

def test_lineage_is_read_as_of_the_models_snapshot(store):
    ingest(store, "shard-a", [0, 1, 2, 3])
    ingest(store, "shard-b", [10, 11, 12, 13])
    trained_on = retrieve(store, [0, 1, 10, 11], k=5, keep=1)
    snapshot = store.snapshot_id()
    store.execute(upsert_model, model_params("react-shapes@1", trained_on, snapshot=snapshot))
    # a model of the same set registered without its snapshot reads the current tables
    store.execute(upsert_model, model_params("react-shapes@unstamped", trained_on))
    before = model_lineage(store, "react-shapes@1")
    assert (before.pair_ids, before.shards) == ((0, 1, 10, 11), ("shard-a", "shard-b"))

    newer = retrieve(store, [2, 3], k=6, keep=1)  # retention: the named set stays ...
    assert set_digests(store) == [newer, trained_on]
    store.write(lambda conn: conn.execute(  # ... so its rows go by hand
        "DELETE FROM retrievals WHERE set_digest = ?", [trained_on]))
    store.execute(delete_shard_pairs, {"shard_id": "shard-b"})
    ingest(store, "shard-c", [10, 11])  # pairs 10 and 11 now come from another shard
    ingest(store, "shard-a", [1, 2, 3])  # and pair 0 is gone
    assert retrieval_set_pair_ids(store, trained_on) == ()
    assert rows(store, "SELECT pair_id, shard_id FROM pairs WHERE pair_id IN (0, 1, 10, 11) "
                       "ORDER BY 1") == [(1, "shard-a"), (10, "shard-c"), (11, "shard-c")]

    after = model_lineage(store, "react-shapes@1")
    assert after == before
    assert (after.retrieval_digest, after.metadata_snapshot) == (trained_on, snapshot)
    assert after.pair_ids == (0, 1, 10, 11) and after.shards == ("shard-a", "shard-b")
    assert after.settings["k_per_query"] == 5
    assert retrieval_set_pair_ids(store, trained_on, snapshot=snapshot) == (0, 1, 10, 11)
    with pytest.raises(LookupError, match="no longer stored"):
        model_lineage(store, "react-shapes@unstamped")


# --- upserts ----------------------------------------------------------------------------------

def test_upserts_keep_one_row_per_key(store):
    store.execute(upsert_shard, shard_params("s", 3, "first"))
    store.execute(upsert_shard, shard_params("other", 1, "other"))
    store.execute(upsert_shard, shard_params("s", 4, "second"))
    assert rows(store, "SELECT shard_id, n_pairs, tar_sha256 FROM shards ORDER BY 1") == [
        ("other", 1, "other"), ("s", 4, "second")]
    store.execute(upsert_model, model_params("m@1", None, checkpoint="/one"))
    store.execute(upsert_model, model_params("m@2", None))
    store.execute(upsert_model, model_params("m@1", "digest", snapshot=7, checkpoint="/two"))
    assert rows(store, "SELECT model_id, checkpoint, retrieval_digest, metadata_snapshot "
                       "FROM models ORDER BY 1") == [("m@1", "/two", "digest", 7),
                                                     ("m@2", "/ckpt", None, None)]


# --- retries ----------------------------------------------------------------------------------

def test_writers_of_the_same_new_keys_at_once_leave_one_row_per_key(store):
    """Runs that write the same shard or model at the same moment: each later one sees the rows
    of the earlier ones. (DuckLake lets two transactions that insert into one table both commit;
    without the store ordering them, each writer of a new key would add its own row.)"""
    n_writers, rounds = 4, 3
    start = threading.Barrier(n_writers)
    errors = []

    def writer(i: int) -> None:
        try:
            for r in range(rounds):
                start.wait(CHILD_TIMEOUT_S)
                ingest(store, f"same-{r}", [10 * r + j for j in range(3)], tar_sha256=f"w{i}")
                store.execute(upsert_model, model_params(f"m@{r}", None, checkpoint=f"/w{i}"))
        except BaseException as err:
            errors.append(err)
            start.abort()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n_writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CHILD_TIMEOUT_S)
    assert not errors, errors
    assert rows(store, "SELECT shard_id, count(*) FROM shards GROUP BY ALL ORDER BY 1") == [
        (f"same-{r}", 1) for r in range(rounds)]
    assert rows(store, "SELECT shard_id, count(*), count(DISTINCT pair_id) FROM pairs "
                       "GROUP BY ALL ORDER BY 1") == [(f"same-{r}", 3, 3) for r in range(rounds)]
    assert rows(store, "SELECT model_id, count(*) FROM models GROUP BY ALL ORDER BY 1") == [
        (f"m@{r}", 1) for r in range(rounds)]


def test_conflicts_are_retried_up_to_the_bound_then_write_conflict(store):
    bounded = Store(store.catalog, retry=RetryPolicy(max_attempts=3, base_delay_s=0.001))
    calls = []

    def locked(conn) -> None:
        calls.append(1)
        conn.execute(upsert_shard, shard_params(f"s{len(calls)}", 1, "x"))
        raise duckdb.TransactionException("Failed to commit DuckLake transaction: "
                                          "database is locked")

    with pytest.raises(WriteConflict, match="after 3 tries"):
        bounded.write(locked, what="always locked")
    assert len(calls) == 3
    assert rows(store, "SELECT count(*) FROM shards") == [(0,)]  # every try rolled back

    conflicts = []

    def locked_twice(conn) -> str:
        if len(conflicts) < 2:
            conflicts.append(1)
            locked(conn)
        conn.execute(upsert_shard, shard_params("done", 1, "x"))
        return "ok"

    assert bounded.write(locked_twice) == "ok" and len(conflicts) == 2
    assert rows(store, "SELECT shard_id FROM shards") == [("done",)]


def hold_the_catalog(store: Store):
    """Another writer in the middle of its commit, holding the catalog for as long as the test
    likes: PostgreSQL's write turn, or SQLite's write lock. Returns the function that ends it."""
    if store.catalog.backend == "postgres":
        import psycopg2

        from react_assets.metadata.store import _WRITE_LOCK_KEY

        session = psycopg2.connect(store.catalog.dsn)
        session.autocommit = True
        session.cursor().execute("SELECT pg_advisory_lock(%s)", (_WRITE_LOCK_KEY,))
        return session.close
    from react_assets.metadata.engine import extension_directory

    holder = duckdb.connect(config={"extension_directory": str(extension_directory()),
                                    "autoinstall_known_extensions": False,
                                    "autoload_known_extensions": True})
    holder.execute(f"ATTACH '{store.catalog.sqlite_path}' AS m (TYPE sqlite)")
    holder.execute("BEGIN TRANSACTION")
    holder.execute("INSERT INTO m.ducklake_metadata VALUES ('held', 'by a test', NULL, NULL)")
    return lambda: (holder.execute("ROLLBACK"), holder.close())


def test_a_write_held_up_by_another_gives_up_after_the_bound_and_then_goes_through(store):
    bounded = Store(store.catalog, retry=RetryPolicy(max_attempts=4, timeout_s=1.0,
                                                     base_delay_s=0.05, max_delay_s=0.2))
    release = hold_the_catalog(store)
    started = time.monotonic()
    try:
        with pytest.raises(WriteConflict):
            bounded.execute(upsert_shard, shard_params("s", 1, "x"))
    finally:
        release()
    assert time.monotonic() - started < 30
    bounded.execute(upsert_shard, shard_params("s", 1, "x"))
    assert rows(store, "SELECT shard_id FROM shards") == [("s",)]


@pytest.mark.parametrize("error", [ValueError("bad input"), duckdb.ConstraintException("bad row")],
                         ids=["python", "duckdb"])
def test_an_error_that_is_no_conflict_is_raised_at_once(store, error):
    calls = []

    def broken(conn) -> None:
        calls.append(1)
        conn.execute(upsert_shard, shard_params("s", 1, "x"))
        raise error

    with pytest.raises(type(error), match=str(error)):
        store.write(broken)
    assert len(calls) == 1
    assert rows(store, "SELECT count(*) FROM shards") == [(0,)]


# --- reads torn by a commit (SQLite catalog) --------------------------------------------------

TORN = "INTERNAL Error: Calling GetValueInternal on a value that is NULL"


def test_a_torn_read_is_read_again_and_another_internal_error_is_not(store):
    calls = []

    def torn_once(conn) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise duckdb.InternalException(TORN)
        return conn.execute("SELECT count(*) FROM shards").fetchone()[0]

    assert store.read(torn_once) == 0 and len(calls) == 2
    calls.clear()
    store.write(lambda conn: (torn_once(conn), conn.execute(
        upsert_shard, shard_params("s", 1, "x"))))
    assert len(calls) == 2 and rows(store, "SELECT shard_id FROM shards") == [("s",)]

    def broken(conn) -> None:
        calls.append(1)
        raise duckdb.InternalException("INTERNAL Error: something else")

    calls.clear()
    with pytest.raises(duckdb.InternalException, match="something else"):
        store.read(broken)
    with pytest.raises(duckdb.InternalException, match="something else"):
        store.write(broken)
    assert len(calls) == 2


def test_a_database_invalidated_by_a_torn_read_is_attached_again(store):
    """DuckDB invalidates its database after an internal error: every later statement of the
    process fails until it attaches the catalog again, which the retry does."""
    invalidated = ('FATAL Error: Failed: database has been invalidated because of a previous '
                   'fatal error. Original error: "Calling GetValueInternal on a value that is NULL"')
    instances = []

    def invalid_once(conn) -> int:
        instances.append(store_module._instance(store.catalog, False))
        if len(instances) == 1:
            raise duckdb.FatalException(invalidated)
        return conn.execute("SELECT count(*) FROM shards").fetchone()[0]

    assert store.read(invalid_once) == 0
    assert len(instances) == 2 and instances[0] is not instances[1]  # a fresh DuckDB
    instances.clear()
    store.write(lambda conn: (invalid_once(conn), conn.execute(
        upsert_shard, shard_params("s", 1, "x"))))
    assert len(instances) == 2 and instances[0] is not instances[1]
    assert rows(store, "SELECT shard_id FROM shards") == [("s",)]


def test_a_sqlite_catalog_read_torn_by_a_tables_first_rows_is_read_again(tmp_path,
                                                                          monkeypatch):
    """The race itself, made to order: DuckLake's statistics join reads the catalog's table
    statistics after a commit gave ``retrievals`` its first rows, and its column statistics
    before (SQLite catalog only: each scan has its own SQLite connection). Read again, whole."""
    from react_assets.metadata import open_store
    from react_assets.metadata.engine import extension_directory

    store = open_store(tmp_path / "home")
    ingest(store, "a", [1, 2])
    catalog = duckdb.connect(config={"extension_directory": str(extension_directory()),
                                     "autoinstall_known_extensions": False,
                                     "autoload_known_extensions": True})
    catalog.execute(f"ATTACH '{store.catalog.sqlite_path}' AS m (TYPE sqlite)")
    table_id = catalog.execute("SELECT table_id FROM m.ducklake_table WHERE "
                               "table_name = 'retrievals' AND end_snapshot IS NULL").fetchone()[0]

    def tear() -> None:
        catalog.execute("INSERT INTO m.ducklake_table_stats VALUES (?, 4, 4, 100)", [table_id])

    def mend(seconds: float) -> None:
        catalog.execute("DELETE FROM m.ducklake_table_stats WHERE table_id = ?", [table_id])

    tear()
    with pytest.raises(duckdb.InternalException, match="GetValueInternal"):
        with store.connect() as conn:  # the unguarded read fails ...
            conn.execute("SELECT count(*) FROM pairs").fetchall()
    monkeypatch.setattr(store_module.time, "sleep", mend)  # ... the commit lands meanwhile
    assert store.fetch(select_shard_pair_ids, {"shard_id": "a"}) == [
        {"pair_id": 1}, {"pair_id": 2}]
    tear()
    ingest(store, "b", [3])
    tear()
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)
    with pytest.raises(duckdb.InternalException, match="GetValueInternal"):
        store.fetch(select_shard_pair_ids, {"shard_id": "a"})  # a lasting one surfaces
    mend(0)
    assert rows(store, "SELECT shard_id, count(*) FROM pairs GROUP BY ALL ORDER BY 1") == [
        ("a", 2), ("b", 1)]
