"""Metadata at scale: the DuckLake store (SQLite catalog, the embedded profile) against one
DuckDB file, on a synthetic corpus.

A ``pairs`` table (``sql/schema/create_pairs.sql``) of ``--rows`` rows is written in
shard-sized batches, one transaction a shard, as ingestion writes them: through
``open_store(home, "sqlite")``, each batch a ``Store.write`` running the real ``insert_pairs``
statement (``insert_table``), by 1 writer process, then into a second lake by ``--writers``
processes that each write their share of the shards at the same time; and by 1 process into a
DuckDB file (``duckdb.connect(file)``, same statement, same batches). A DuckDB file admits one
writing process: the bench shows it (a second process's ``connect`` of the file, read-write
and read-only, while the writer has it open) instead of measuring writers it cannot have.

Then, on the 1-writer lake and on the file: the latency (median of ``--repeats``, and the first)
of a model's lineage (``model_lineage``, on a model trained on a retrieval set naming
``--lineage-pairs`` pairs spread over the corpus, stored with ``store_retrieval_set``; on the
file the same statement without its ``AT (VERSION => ...)`` clauses, which a DuckDB file
lacks), of the count by shard (``SELECT shard_id, count(*) FROM pairs GROUP BY ALL``), and of
replacing one shard's pairs as ``corpus_shards`` does (delete, insert, shard row, one
transaction); and the size on disk (lake: data files + catalog; file: the database + WAL).

Prints the figures and writes them to ``bench/results/metadata.json``:

    python -m bench.speed.metadata [--rows 10000000] [--shard-rows 10000] [--writers 4]
        [--lineage-pairs 5000] [--repeats 7] [--workdir DIR]

Modules: ``workload`` (the synthetic corpus), ``writers`` (the writer processes), ``queries``
(the latencies), ``__main__`` (the run and its report).
"""
