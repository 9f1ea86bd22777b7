"""The read-only metadata command, ``python -m react_assets.metadata.read``, on both catalogs:
its output, its refusal of writes, snapshots, statements from stdin, and readers that stay open
through a whole ingestion and retrieval of the tiny world while every run succeeds.

The command runs as a subprocess, as a user runs it (``scripts/metadata.sh``)."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from react_assets.metadata.sql import count_pair_integrity, insert_pairs
from tiny_world import TINY_RUN_CONFIG

from react_assets.corpus.ingest import PAIR_SCHEMA
from react_assets.metadata import Store, engine, insert_table
from react_assets.metadata import read as read_module

REPO = Path(__file__).resolve().parents[2]
COUNTS = ("SELECT (SELECT count(*) FROM pairs) AS pairs, "
          "(SELECT count(*) FROM retrievals) AS retrievals, "
          "(SELECT id FROM lake.current_snapshot()) AS snapshot")


def cli_args(store: Store) -> list[str]:
    catalog = store.catalog
    return ["--home", str(catalog.root), "--backend", catalog.backend,
            *(["--dsn", catalog.dsn] if catalog.dsn else [])]


def read(store: Store, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the command on ``store``'s home; REACT_* from this environment must not matter."""
    return subprocess.run(
        [sys.executable, "-m", "react_assets.metadata.read", *cli_args(store), *args],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "REACT_PROFILE": "cluster", "REACT_HOME": "/nonexistent"})


def add_pairs(store: Store, shard_id: str, pair_ids: list[int]) -> None:
    table = pa.Table.from_pylist([{
        "pair_id": pid, "shard_id": shard_id, "ordinal": i, "key": f"{i:05d}",
        "image_member": f"{i:05d}.png", "caption": f"a photo of {pid}", "source": "test",
        "width": 8, "height": 8, "image_bytes": 100, "image_sha256": f"{pid:064x}",
        "url": None, "meta": None} for i, pid in enumerate(pair_ids)], schema=PAIR_SCHEMA)
    store.write(lambda conn: insert_table(conn, insert_pairs, table))


BY_SHARD = "SELECT shard_id, count(*) AS n FROM pairs GROUP BY ALL ORDER BY shard_id"


def test_a_query_prints_as_an_aligned_table_csv_and_json(store):
    add_pairs(store, "shard-a", [1, 2, 3])
    add_pairs(store, "shard-b", [4, 5])

    table = read(store, BY_SHARD)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert len({len(line) for line in lines}) == 1, table.stdout  # every line as wide
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in lines
            if line.startswith("│")]
    assert rows == [["shard_id", "n"], ["varchar", "int64"], ["shard-a", "3"], ["shard-b", "2"]]

    csv = read(store, "--csv", BY_SHARD)
    assert (csv.returncode, csv.stdout) == (0, "shard_id,n\nshard-a,3\nshard-b,2\n")
    as_json = read(store, "--json", BY_SHARD, "SELECT count(*) AS pairs FROM pairs")
    assert as_json.returncode == 0, as_json.stderr
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == [
        [{"shard_id": "shard-a", "n": 3}, {"shard_id": "shard-b", "n": 2}], [{"pairs": 5}]]


@pytest.mark.parametrize("statement", [
    "INSERT INTO pairs SELECT * FROM pairs",
    "DELETE FROM pairs",
    "UPDATE pairs SET caption = 'x'",
    "CREATE TABLE notes (a INTEGER)",
    "DROP TABLE pairs",
])
def test_a_write_through_the_command_is_refused_and_changes_nothing(store, statement):
    add_pairs(store, "shard-a", [1, 2, 3])
    before = store.snapshot_id()
    refused = read(store, statement)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "read-only mode" in refused.stderr and "reads the metadata read-only" in refused.stderr
    # on stdin the session goes on after the refusal, and the exit status says one failed
    session = read(store, "--csv", stdin=f"{statement};\nSELECT count(*) AS n FROM pairs;\n")
    assert (session.returncode, session.stdout) == (1, "n\n3\n")
    assert store.snapshot_id() == before  # no commit at all
    with store.connect() as conn:
        assert conn.execute("SELECT count(*), min(caption) FROM pairs").fetchone() == (
            3, "a photo of 1")


def test_a_snapshot_reads_the_lake_as_it_was_and_snapshots_are_listed(store):
    add_pairs(store, "shard-a", [1, 2, 3])
    first = store.snapshot_id()
    add_pairs(store, "shard-b", [4, 5])
    assert read(store, "--csv", "SELECT count(*) AS n FROM pairs").stdout == "n\n5\n"
    then = read(store, "--csv", "--snapshot", str(first), "SELECT count(*) AS n FROM pairs")
    assert (then.returncode, then.stdout) == (0, "n\n3\n")
    # the same through DuckLake's own syntax on a connection that follows the newest snapshot
    at = read(store, "--csv", f"SELECT count(*) AS n FROM pairs AT (VERSION => {first})")
    assert at.stdout == "n\n3\n"
    # an as-of reader is read-only too
    refused = read(store, "--snapshot", str(first), "DELETE FROM pairs")
    assert refused.returncode == 1 and "read-only" in refused.stderr

    listed = read(store, "--snapshots", "--json")
    assert listed.returncode == 0, listed.stderr
    (snapshots,) = [json.loads(line) for line in listed.stdout.splitlines()]
    by_id = {s["snapshot_id"]: s for s in snapshots}
    assert max(by_id) == store.snapshot_id() and first in by_id
    assert by_id[first]["changes"] == {"tables_inserted_into": ["pairs"]}  # named, not an id

    missing = read(store, "--snapshot", str(store.snapshot_id() + 100), "SELECT 1")
    assert missing.returncode == 2 and "No snapshot found" in missing.stderr


def test_statements_from_stdin_one_a_line_or_separated_and_spread_over_lines(store):
    add_pairs(store, "shard-a", [1, 2, 3])
    script = (
        "SELECT 1 AS a; SELECT 2 AS b\n"          # two on a line
        "SELECT count(*) AS n\n"                  # one spread over lines: the next line
        "FROM pairs\n"                            #   continues it
        "WHERE pair_id IN (1,\n"                  # unfinished: goes on on the next line
        "  2);\n"
        "-- a comment\n"
        "\n"
        ".tables\n"
        "SELECT 'x;y' AS s\n"                     # a ';' inside a string ends nothing
        "SELEC 3\n"                               # an error: reported, the session goes on
        "SELECT 4 AS d\n")
    result = read(store, "--json", stdin=script)
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert outputs[:3] == [[{"a": 1}], [{"b": 2}], [{"n": 2}]]
    tables = {row["table"]: row for row in outputs[3]}
    assert tables["pairs"]["files"] == 1 and tables["pairs"]["bytes"] > 0 and "models" in tables
    assert outputs[4:] == [[{"s": "x;y"}], [{"d": 4}]]
    assert result.returncode == 1 and 'syntax error at or near "SELEC"' in result.stderr


def test_at_a_terminal_a_statement_runs_at_its_semicolon_and_ctrl_c_drops_one(store):
    add_pairs(store, "shard-a", [1, 2, 3])
    typed = iter(["SELECT count(*) AS n", "FROM pairs;", "SELECT (1,", KeyboardInterrupt,
                  "SELECT 7 AS seven;", ".quit", "SELECT 8;"])
    prompts = []

    def typing(prompt: str) -> str:
        prompts.append(prompt)
        line = next(typed)
        if line is KeyboardInterrupt:
            raise KeyboardInterrupt
        return line

    out, err = io.StringIO(), io.StringIO()
    conn = read_module.open_reader(store.catalog)  # in the process that writes: no harm done
    try:
        session = read_module.Session(conn, out, err, fmt="csv")
        session.repl(read_module.TerminalLines(typing), prompt="lake> ")
    finally:
        conn.close()
    assert out.getvalue() == "n\n3\nseven\n7\n"  # the first statement spans two lines
    assert prompts == ["lake> ", " ...> ", "lake> ", " ...> ", "lake> ", "lake> "]
    assert err.getvalue() == "^C\n" and session.failures == 0
    add_pairs(store, "shard-b", [4])  # the writer of this process goes on


def test_a_home_without_metadata_fails_saying_so(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "react_assets.metadata.read", "--home", str(tmp_path / "none"),
         "SELECT 1"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2
    assert "no metadata at" in result.stderr and "catalog.sqlite does not exist" in result.stderr
    assert not (tmp_path / "none").exists()  # a reader creates nothing


# --- readers open through a run of the real pipeline ---------------------------------------------

class ReplReader:
    """The command in REPL mode on a pipe: a counts query every ``every_s`` seconds, each answer
    (one JSON line) recorded with the time it came."""

    def __init__(self, store: Store, every_s: float = 0.2) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "react_assets.metadata.read", *cli_args(store), "--json"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1, cwd=REPO)
        self.answers: list[dict] = []
        self.stop = threading.Event()
        self.every_s = every_s
        self.threads = [threading.Thread(target=self._ask, daemon=True),
                        threading.Thread(target=self._listen, daemon=True)]
        for thread in self.threads:
            thread.start()

    def wait_for_an_answer(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.answers:
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "the command gave no answer"
            time.sleep(0.05)

    def _ask(self) -> None:
        while not self.stop.is_set():
            self.proc.stdin.write(COUNTS + "\n")
            self.proc.stdin.flush()
            time.sleep(self.every_s)
        self.proc.stdin.close()

    def _listen(self) -> None:
        for line in self.proc.stdout:
            (row,) = json.loads(line)
            self.answers.append({**row, "at": time.monotonic()})

    def close(self) -> tuple[int, str]:
        self.stop.set()
        self.threads[0].join(timeout=10)
        code = self.proc.wait(timeout=60)
        self.threads[1].join(timeout=10)
        return code, self.proc.stderr.read()


class HeldTransaction:
    """A read-only connection of this process that opens one transaction and queries in it
    every ``every_s`` seconds until closed: the longest a reader can hold a snapshot."""

    def __init__(self, store: Store, every_s: float = 0.2) -> None:
        self.conn = engine.connect(store.catalog, read_only=True)
        self.conn.execute("BEGIN TRANSACTION")
        self.seen: list[tuple] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.every_s = every_s
        self.thread = threading.Thread(target=self._query, daemon=True)
        self.thread.start()

    def _query(self) -> None:
        while not self.stop.is_set():
            try:
                self.seen.append(self.conn.execute(COUNTS).fetchone())
            except Exception as err:  # noqa: BLE001 - every failure is the finding
                self.errors.append(f"{type(err).__name__}: {err}")
            time.sleep(self.every_s)

    def close(self) -> tuple:
        self.stop.set()
        self.thread.join(timeout=30)
        self.conn.execute("COMMIT")
        after = self.conn.execute(COUNTS).fetchone()
        self.conn.close()
        return after


@pytest.mark.slow
def test_readers_stay_open_through_an_ingestion_and_a_retrieval_and_every_run_succeeds(
        store, tmp_path):
    from dagster_project.definitions import build_definitions
    from dagster_project.demo import run_pipeline
    from dagster_project.partitions import domain_partitions
    from dagster_project.profile import Profile
    from react_assets.demo.config import DemoSourcePaths

    missing = DemoSourcePaths().missing()
    if missing:
        pytest.skip(f"demo world sources not installed: {missing}")
    catalog = store.catalog
    defs = build_definitions(str(catalog.root), Profile(
        metadata_backend=catalog.backend, metadata_dsn=catalog.dsn))
    stages = ("world", "corpus", "base", "embed", "index")
    repl = ReplReader(store)
    held = HeldTransaction(store)
    retrieval_started = None
    try:
        repl.wait_for_an_answer()
        with dg.instance_for_test() as instance:
            def execute(job: str, partition: str | None, config: dict) -> None:
                result = defs.resolve_job_def(job).execute_in_process(
                    instance=instance, partition_key=partition, run_config=config)
                assert result.success, f"{job}[{partition}] failed"

            timings = run_pipeline(instance, execute, TINY_RUN_CONFIG, stages)
            retrieval_started = time.monotonic()
            ops = {"ops": {"retrieved_pairs": TINY_RUN_CONFIG["domain_job"]["ops"][
                "retrieved_pairs"]}}
            domains = instance.get_dynamic_partitions(domain_partitions.name)
            for domain in domains:
                result = dg.materialize(
                    [defs.resolve_assets_def("retrieved_pairs")], partition_key=domain,
                    instance=instance, run_config=ops, selection=["retrieved_pairs"])
                assert result.success, f"retrieved_pairs[{domain}] failed"
            finished = time.monotonic()
    finally:
        code, stderr = repl.close()
        after_commit = held.close()

    with store.connect() as conn:
        final = conn.execute(COUNTS).fetchone()
        per_domain = dict(conn.execute(
            "SELECT domain, count(*) FROM retrievals GROUP BY ALL").fetchall())
    assert list(timings) == list(stages) and sorted(per_domain) == sorted(domains)
    assert final[0] > 0 and final[1] > 0
    assert store.fetch(count_pair_integrity) == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]

    # the command answered all along, without an error, and saw the lake grow commit by commit
    assert (code, stderr) == (0, "")
    answers = repl.answers
    assert len(answers) > 20
    during_retrieval = [a for a in answers if retrieval_started < a["at"] < finished]
    assert during_retrieval, "no answer while retrieved_pairs ran"
    assert answers[0]["pairs"] == 0 and answers[-1]["pairs"] == final[0]
    assert answers[-1]["retrievals"] == final[1]
    snapshots = [a["snapshot"] for a in answers]
    assert snapshots == sorted(snapshots) and len(set(snapshots)) > 3
    pair_counts = [a["pairs"] for a in answers]
    assert pair_counts == sorted(pair_counts) and 0 in pair_counts and final[0] in pair_counts

    # the transaction held open through it all kept its snapshot (the lake before the run) and
    # blocked no writer; after it ended, the connection sees the newest snapshot
    assert held.errors == [] and len(held.seen) > 20
    assert set(held.seen) == {held.seen[0]} and held.seen[0][:2] == (0, 0)
    assert after_commit == final


def test_the_script_runs_the_command_with_the_project_environment(store, tmp_path):
    add_pairs(store, "shard-a", [1, 2])
    script = REPO / "scripts" / "metadata.sh"
    env = {"PATH": "/usr/bin:/bin", "REACT_HOME": str(store.catalog.root)}
    flags = []
    if store.catalog.backend == "postgres":  # the cluster profile: the settings file of its home
        cluster = store.catalog.root / "cluster"
        cluster.mkdir(parents=True)
        (cluster / "cluster.env").write_text(  # as devtools/cluster.py writes it
            f"REACT_PROFILE=cluster\nREACT_METADATA_DSN={shlex.quote(store.catalog.dsn)}\n")
        flags = ["--cluster"]
    result = subprocess.run([str(script), *flags, "--csv", "SELECT count(*) AS n FROM pairs"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "n\n2\n"), result.stderr
