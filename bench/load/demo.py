"""The README's demo command timed end to end: seconds per stage and the leaderboard it makes.

Runs ``./scripts/demo.sh`` (setup, then ``python -m dagster_project.demo``: every stage of the
pipeline on the embedded demo world) with ``REACT_HOME`` set to ``--react-home``, which must be
empty or absent, so the figures are those of a first run. Then reads what the demo wrote to
``REACT_HOME/reports``: ``demo_timing.json`` (wall seconds per stage) and ``leaderboard.json``
(zero-shot top-1 of every model on every dataset), and writes both, with the command's own
wall time, to ``bench/results/demo.json``. The home is kept: the experiments
(``bench.experiments.*``) run on it.

Usage: python -m bench.load.demo --react-home DIR [-- demo arguments, e.g. --max-steps 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from bench.common.results import add_results_dir, write_result

ROOT = Path(__file__).resolve().parents[2]  # the repository: scripts/demo.sh lives there


def zeroshot_rows(board: dict) -> list[dict]:
    """The leaderboard as rows: per domain and dataset, top-1 (x100) by model kind."""
    kind = {m["model_id"]: m["model_kind"] for m in board["models"]}
    rows = []
    for entry in board["datasets"]:
        values: dict[str, float] = {}
        for model_id, value in entry["values"].items():
            if value is not None:
                values.setdefault(kind[model_id], round(100 * value, 2))
        rows.append({"domain": entry["domain"], "dataset": entry["dataset"],
                     "metric": entry["metric"], "top1": values})
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--react-home", type=Path, required=True,
                        help="an empty or absent folder: the demo's first run goes there")
    parser.add_argument("demo_args", nargs="*", help="passed to python -m dagster_project.demo")
    add_results_dir(parser)
    args = parser.parse_args(argv)
    home = args.react_home.resolve()
    if home.exists() and any(home.iterdir()):
        parser.error(f"{home} is not empty: the bench times a first run")
    env = {**os.environ, "REACT_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}
    started = time.perf_counter()
    subprocess.run([str(ROOT / "scripts" / "demo.sh"), *args.demo_args], cwd=ROOT, env=env,
                   check=True)
    wall = time.perf_counter() - started
    reports = home / "reports"
    timing = json.loads((reports / "demo_timing.json").read_text(encoding="utf-8"))
    board = json.loads((reports / "leaderboard.json").read_text(encoding="utf-8"))
    figures = {"react_home": str(home), "demo_args": args.demo_args,
               "command_wall_s": round(wall, 1), "stages_s": timing["stages"],
               "total_s": timing["total_s"], "demo_machine": timing["machine"],
               "zeroshot": zeroshot_rows(board)}
    print(f"wrote {write_result('demo', figures, directory=args.results_dir)}")
    return figures


if __name__ == "__main__":
    main()
