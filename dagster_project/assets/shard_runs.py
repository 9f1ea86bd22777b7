"""Metadata of a run that materialized several shard partitions (a backfill's range)."""

from __future__ import annotations

import dagster as dg


def run_totals(figures: list[dict], count: str, seconds: float,
               columns: tuple[str, ...]) -> dict[str, object]:
    """What the whole run did, shown on every partition it materialized: how many shards, the
    sum of ``count`` over them and its rate over the run's wall seconds, and a table with
    ``columns`` of each shard's ``figures``."""
    total = sum(f[count] for f in figures)
    return {
        "run_shards": len(figures),
        f"run_{count}": total,
        f"run_{count}_per_second": round(total / seconds, 1) if seconds > 0 else 0.0,
        "run_by_shard": dg.MetadataValue.table(
            records=[dg.TableRecord({c: f[c] for c in columns}) for f in figures],
            schema=dg.TableSchema(columns=[dg.TableColumn(c, _column_type(figures[0][c]))
                                           for c in columns])),
    }


def _column_type(value: object) -> str:
    return {bool: "bool", int: "int", float: "float"}.get(type(value), "string")
