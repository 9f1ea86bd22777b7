"""Query a home's metadata read-only, while runs write it.

    python -m react_assets.metadata.read [--home DIR] [--cluster | --backend sqlite|postgres
        --dsn DSN] [--snapshot N | --snapshots] [--csv | --json] [--max-rows N] [SQL ...]

The lake is attached ``READ_ONLY``: every statement that would change it is refused ("attached
in read-only mode"), and a reader never takes a lock a writer waits for (the SQLite catalog runs
in WAL mode, PostgreSQL reads its own MVCC snapshot). Each statement reads the newest committed
snapshot, or the one ``--snapshot N`` names (``--snapshots`` lists them). With no SQL arguments
the statements come from stdin: one a line, or several on a line separated by ``;``; a line that
leaves a statement unfinished (an open parenthesis or quote, a trailing keyword) goes on on the
next line, and so does one that continues a complete statement when both are there at once (a
file). On a terminal it is a prompt, where (as in DuckDB's CLI) ``;`` ends a statement, with a few dot
commands (``.help``).

``scripts/metadata.sh`` runs it with the project's environment; :func:`main` is the only place
that reads environment variables (REACT_HOME, REACT_PROFILE, REACT_METADATA_DSN, for defaults).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import select
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import duckdb

from react_assets.metadata import engine
from react_assets.metadata.engine import BACKENDS, LAKE, Catalog
from react_assets.metadata.store import is_conflict, is_torn_read

FORMATS = ("table", "csv", "json")
READ_TRIES = 5  # tries of a read that meets the catalog locked, or torn by a commit

SNAPSHOTS_SQL = (f"SELECT snapshot_id, snapshot_time, schema_version, changes, author, "
                 f"commit_message FROM {LAKE}.snapshots() ORDER BY snapshot_id")
TABLES_SQL = (f"SELECT table_name AS \"table\", file_count AS files, file_size_bytes AS bytes "
              f"FROM {LAKE}.table_info() ORDER BY table_name")
HELP = """\
End SQL statements with ';' (a statement may span lines). Dot commands:
  .tables       the lake's tables
  .snapshots    the committed snapshots (query one: --snapshot N, or FROM t AT (VERSION => N))
  .help         this text
  .quit         leave (or Ctrl-D)"""


class ReadError(RuntimeError):
    """A reader that cannot start (no catalog at the home, a snapshot that does not exist)."""


def open_reader(catalog: Catalog, *, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to ``catalog``'s lake (as of ``snapshot``, else following the
    newest snapshot statement by statement). Creates nothing: a home without metadata fails."""
    if catalog.backend == "sqlite" and not catalog.sqlite_path.exists():
        raise ReadError(f"no metadata at {catalog.root}: {catalog.sqlite_path} does not exist "
                        "(no run has written this home yet, or another --home is meant)")
    try:
        return engine.connect(catalog, read_only=True, snapshot=snapshot)
    except duckdb.Error as err:
        raise ReadError(str(err)) from err


BATCH_ROWS = 10_000  # rows fetched at a time for CSV and JSON (a large result streams out)


def _plain(value: object) -> object:
    """A value as CSV writes it: lists, maps and structs as JSON."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return value


def render_table(relation: duckdb.DuckDBPyRelation, max_rows: int = 100,
                 width: int | None = None) -> str:
    """Run the query ``relation``; its rows as an aligned table (at most ``max_rows`` rows, the
    middle elided; 0: all), ``width`` characters wide at most (None: as wide as it takes)."""
    rendered = io.StringIO()
    with contextlib.redirect_stdout(rendered):
        relation.show(max_rows=max_rows or 2**62, max_width=width or 100_000,
                      max_col_width=width or 100_000)
    return rendered.getvalue()


def write_rows(relation: duckdb.DuckDBPyRelation, out: TextIO, fmt: str) -> None:
    """Print the rows of the executed query ``relation``, ``BATCH_ROWS`` at a time: CSV with a
    header, or (``json``) one JSON array of row objects on one line."""
    columns = list(relation.columns)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        while rows := relation.fetchmany(BATCH_ROWS):
            writer.writerows([_plain(v) for v in row] for row in rows)
    elif fmt == "json":
        out.write("[")
        first = True
        while rows := relation.fetchmany(BATCH_ROWS):
            for row in rows:
                out.write(("" if first else ", ") + json.dumps(
                    dict(zip(columns, row, strict=True)), default=str))
                first = False
        out.write("]\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def snapshots(conn: duckdb.DuckDBPyConnection) -> str:
    """The snapshot listing's query, with the changed tables named (DuckLake lists the ids of
    the tables a commit inserted into or deleted from)."""
    try:
        names = dict(conn.execute(f"SELECT DISTINCT table_id, table_name FROM "
                                  f"__ducklake_metadata_{LAKE}.ducklake_table").fetchall())
    except duckdb.Error:  # another catalog layout: the ids as DuckLake gives them
        return SNAPSHOTS_SQL
    if not names:
        return SNAPSHOTS_SQL
    cases = " ".join(f"WHEN '{int(i)}' THEN '{str(n).replace(chr(39), chr(39) * 2)}'"
                     for i, n in names.items())
    named = (f"map_from_entries(list_transform(map_entries(changes), e -> {{'key': e.key, "
             f"'value': list_transform(e.value, v -> CASE v {cases} ELSE v END)}}))")
    return SNAPSHOTS_SQL.replace("changes,", f"{named} AS changes,", 1)


class Session:
    """Statements run on one read-only connection, printed to ``out``, errors to ``err``."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, out: TextIO, err: TextIO, *,
                 fmt: str = "table", max_rows: int = 100, width: int | None = None) -> None:
        self.conn, self.out, self.err = conn, out, err
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        self.fmt, self.max_rows, self.width = fmt, max_rows, width
        self.failures = 0

    def run(self, sql: str) -> bool:
        """Run one statement and print its result, or the error; whether it succeeded. A
        statement that meets the catalog locked for a moment (a WAL checkpoint), or whose read
        of a SQLite catalog a commit tore (``store.is_torn_read``), is run again, up to
        READ_TRIES times, before anything is printed."""
        for attempt in range(READ_TRIES):
            try:
                relation = self.conn.sql(sql)
                if relation is None:  # a statement without rows (SET, a refused write...)
                    return True
                if self.fmt == "table":
                    table = render_table(relation, self.max_rows, self.width)
                else:
                    relation.execute()
                break
            except duckdb.Error as error:
                if (is_conflict(error) or is_torn_read(error)) and attempt < READ_TRIES - 1:
                    time.sleep(0.05 * 2 ** attempt)
                    continue
                return self._failed(error)
        try:
            if self.fmt == "table":
                self.out.write(table)
            else:
                write_rows(relation, self.out, self.fmt)
        except duckdb.Error as error:
            return self._failed(error)
        self.out.flush()
        return True

    def _failed(self, error: duckdb.Error) -> bool:
        self.failures += 1
        message = str(error)
        if "read-only mode" in message:
            message += ("\n(this command reads the metadata read-only; the pipeline's runs are "
                        "its writers)")
        self.err.write(f"Error: {message}\n")
        self.err.flush()
        return False

    def run_text(self, text: str) -> bool:
        """Run every statement of ``text`` in order, stopping at the first that fails."""
        try:
            statements = [s.query for s in duckdb.extract_statements(text)]
        except duckdb.Error:
            statements = [text]  # run as given: the error names the position
        return all(self.run(sql) for sql in statements)

    def dot(self, command: str) -> bool | None:
        """A dot command; None for ``.quit``."""
        name = command.split()[0].lower()
        if name in (".quit", ".exit", ".q"):
            return None
        if name == ".tables":
            return self.run(TABLES_SQL)
        if name == ".snapshots":
            return self.run(snapshots(self.conn))
        if name != ".help":
            self.err.write(f"unknown command {name}\n")
        self.err.write(HELP + "\n")
        self.err.flush()
        return name == ".help"

    def repl(self, source: LineSource, prompt: str = "") -> None:
        """Run the statements of ``source``'s lines until its end (see the module docstring).

        A statement ends at ``;`` at the end of a line, at a next line that does not continue
        it, and, from a stream, at a line that completes it when no next line is there within
        LOOKAHEAD_S (a file's next line is there at once: ``FROM t`` after ``SELECT a`` joins
        it). A terminal cannot be peeked at: there, as in DuckDB's own CLI, ``;`` ends it.
        """
        buffer = ""
        more = " " * max(len(prompt) - 5, 0) + "...> " if prompt else ""
        while True:
            complete = bool(buffer) and not unfinished(buffer)
            try:
                line = source.read(more if buffer else prompt,
                                   wait=LOOKAHEAD_S if complete else None)
            except KeyboardInterrupt:  # Ctrl-C at a prompt: drop the statement being typed
                self.err.write("^C\n")
                buffer = ""
                continue
            if line is NOTHING_YET:
                buffer = self._run_buffer(buffer)
                continue
            if line is None:
                self._run_buffer(buffer)
                return
            if complete and not joins(buffer, line):
                buffer = self._run_buffer(buffer)
            if not buffer and line.strip().startswith("."):
                if self.dot(line.strip()) is None:
                    return
                continue
            buffer += line if line.endswith("\n") else line + "\n"
            if ends_statement(buffer):
                buffer = self._run_buffer(buffer)

    def _run_buffer(self, buffer: str) -> str:
        if buffer.strip():
            self.run_text(buffer)
        return ""


LOOKAHEAD_S = 0.05  # how long a complete statement waits for a line that continues it
NOTHING_YET = object()  # a LineSource's answer when no line came within the wait


class LineSource:
    """Lines of a text stream as they arrive, no prompt. ``read(prompt, wait)`` gives the next
    line, None at the end, or NOTHING_YET when ``wait`` seconds passed without a whole line
    (a pipe fed slowly is answered line by line; a file's lines are all there at once)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.StringIO: everything is there
            self.fd = None
        self.pending = b""
        self.ended = False

    def read(self, prompt: str = "", wait: float | None = None) -> object:
        if self.fd is None:
            return self.stream.readline() or None
        while b"\n" not in self.pending and not self.ended:
            if wait is not None and not select.select([self.fd], [], [], wait)[0]:
                return NOTHING_YET
            chunk = os.read(self.fd, 65536)
            self.pending += chunk
            self.ended = not chunk
        if not self.pending:
            return None
        line, sep, self.pending = self.pending.partition(b"\n")
        return (line + sep).decode("utf-8", errors="replace")


class TerminalLines:
    """Lines typed at a terminal after a prompt, with readline's editing and history when it is
    there; Ctrl-D ends. A terminal cannot say whether a next line is coming, so a statement
    runs at its ``;``."""

    def __init__(self, read_line: Callable[[str], str] = input) -> None:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (input() gains line editing)
        self.read_line = read_line

    def read(self, prompt: str = "", wait: float | None = None) -> str | None:
        try:
            return self.read_line(prompt) + "\n"
        except EOFError:
            print()
            return None


def unfinished(text: str) -> bool:
    """Whether ``text`` ends inside a statement (the parser wants more input)."""
    try:
        duckdb.extract_statements(text)
    except duckdb.ParserException as err:
        message = str(err)
        return "at end of input" in message or "unterminated" in message
    return False


def ends_statement(text: str) -> bool:
    """Whether ``text`` ends with a ``;`` that closes a statement (not one inside a string)."""
    if not text.rstrip().endswith(";") or unfinished(text):
        return False
    return True


def joins(buffer: str, line: str) -> bool:
    """Whether ``line`` continues the last statement of the complete ``buffer``: together they
    parse as the same number of statements (or as an unfinished one)."""
    if not line.strip() or line.strip().startswith("."):
        return False
    try:
        before = len(duckdb.extract_statements(buffer))
        return len(duckdb.extract_statements(buffer + line)) == before
    except duckdb.ParserException as err:
        return "at end of input" in str(err) or "unterminated" in str(err)


CLUSTER_ENV = Path("cluster") / "cluster.env"


def cluster_settings(home: Path) -> dict[str, str]:
    """The settings ``scripts/cluster.sh start`` wrote for the home's cluster (``KEY=VALUE``
    lines; a value is taken whole, spaces and all, or shell-unquoted when quoted), or {}."""
    try:
        text = (home / CLUSTER_ENV).read_text(encoding="utf-8")
    except OSError:
        return {}
    settings = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            settings[key] = shlex.split(value)[0] if value[:1] in ("'", '"') else value
    return settings


def parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    p = argparse.ArgumentParser(
        prog="python -m react_assets.metadata.read", description=doc[0] + "\n\n" + doc[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sql", nargs="*", help="statements to run (default: read them from stdin)")
    p.add_argument("--home", type=Path, help="REACT_HOME (default: $REACT_HOME)")
    p.add_argument("--backend", choices=BACKENDS,
                   help="the catalog: sqlite (embedded profile) or postgres (cluster profile); "
                        "default postgres when REACT_PROFILE=cluster, else sqlite")
    p.add_argument("--dsn", help="the postgres backend's libpq connection string (default: "
                                 "$REACT_METADATA_DSN, else the home's cluster/cluster.env)")
    p.add_argument("--cluster", action="store_true",
                   help="the cluster profile's catalog: --backend postgres, the dsn from the "
                        "home's cluster/cluster.env (default when REACT_PROFILE=cluster)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--snapshot", type=int, metavar="N",
                      help="read the lake as of snapshot N (see --snapshots)")
    when.add_argument("--snapshots", action="store_true", help="list the snapshots and exit")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--csv", dest="fmt", action="store_const", const="csv",
                       help="print CSV with a header")
    shape.add_argument("--json", dest="fmt", action="store_const", const="json",
                       help="print one JSON array of row objects per statement, one a line")
    p.add_argument("--max-rows", type=int, default=100,
                   help="rows an aligned table shows at most, the middle elided (0: all; "
                        "default 100)")
    return p


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The command: exit status 0, 1 when a statement failed, 2 when no reader could start."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    args = parser().parse_args(argv)
    home = args.home or (Path(os.environ["REACT_HOME"]) if os.environ.get("REACT_HOME") else None)
    if home is None:
        stderr.write("error: no home: pass --home DIR or set REACT_HOME\n")
        return 2
    cluster = args.cluster or os.environ.get("REACT_PROFILE") == "cluster"
    backend = args.backend or ("postgres" if cluster else "sqlite")
    dsn = None
    if backend == "postgres":
        written = cluster_settings(home).get("REACT_METADATA_DSN")
        # the home's cluster.env first with --cluster: it is that home's cluster's
        dsn = args.dsn or (args.cluster and written) or os.environ.get("REACT_METADATA_DSN") \
            or written
        if not dsn:
            stderr.write(f"error: the postgres backend needs --dsn, REACT_METADATA_DSN or "
                         f"{home / CLUSTER_ENV} (written by scripts/cluster.sh start)\n")
            return 2
    try:
        catalog = Catalog(home.resolve(), backend, dsn)
        conn = open_reader(catalog, snapshot=args.snapshot)
    except (ReadError, ValueError) as err:
        stderr.write(f"error: {err}\n")
        return 2
    interactive = not args.sql and not args.snapshots and stdin.isatty()
    width = shutil.get_terminal_size().columns if stdout.isatty() else None
    session = Session(conn, stdout, stderr, fmt=args.fmt or "table",
                      max_rows=args.max_rows, width=width)
    try:
        if args.snapshots:
            session.run(snapshots(conn))
        elif args.sql:
            for text in args.sql:
                if not session.run_text(text):
                    break
        elif interactive:
            stderr.write(f"{catalog.describe()}, read-only"
                         f"{f', as of snapshot {args.snapshot}' if args.snapshot is not None else ''}"
                         ". .help for help\n")
            at = f"@{args.snapshot}" if args.snapshot is not None else ""
            session.repl(TerminalLines(), prompt=f"{LAKE}{at}> ")
        else:
            session.repl(LineSource(stdin))
    finally:
        conn.close()
    return 1 if session.failures else 0


if __name__ == "__main__":
    sys.exit(main())
