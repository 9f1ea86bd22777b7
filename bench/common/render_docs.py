"""Render ``docs/benchmarks.md`` from the bench results in ``bench/results/*.json``.

    python -m bench.common.render_docs          # writes docs/benchmarks.md
    python -m bench.common.render_docs --check  # exit 1 when the page is not the rendering

Each bench of :data:`bench.common.sections.SECTIONS` gets its section: its figures with the
machine, date and command that measured them, or the command that would measure them. A result
file of a bench not listed there is rendered under "Other results" by the generic renderer.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from bench.common.results import RESULTS_DIR
from bench.common.sections import SECTIONS, Section, fmt, generic

REPO = RESULTS_DIR.parents[1]
PAGE = REPO / "docs" / "benchmarks.md"
KINDS = {"load": "Load: whole runs through the UI's API", "speed": "Speed: one stage at a time",
         "experiments": "Experiments: ablations and seed spreads on a built home"}
RECORD_KEYS = ("bench", "command", "date", "machine", "figures")
INTRO = """\
# Benchmarks

Every figure on this page is rendered by `python -m bench.common.render_docs` from the JSON files
the benches write to `bench/results/` (`bench.common.results.write_result`), each with the
machine, the date and the command that measured it; nothing here is typed by hand. To add or
refresh a figure: run the bench, run the renderer, and commit the JSON with this page
(`git add -f bench/results/<name>.json`: the folder is ignored). `tests/test_bench_docs.py`
checks that this page is the rendering of the committed JSON files. A bench without a result
says "not measured yet" with the command that measures it. How the benches are laid out and run:
[bench/](../bench/__init__.py), `python -m bench.<kind>.<name> --help`.
"""


def load_results(paths: Iterable[Path]) -> dict[str, dict]:
    """The result records of ``paths``, by bench name; a file that is not one raises a
    ValueError naming it and what it lacks."""
    results = {}
    for path in sorted(paths):
        record = json.loads(path.read_text(encoding="utf-8"))
        missing = [key for key in RECORD_KEYS if key not in record]
        if missing:
            raise ValueError(f"{path} is not a bench result: it lacks {missing} (write it with "
                             "bench.common.results.write_result)")
        results[record["bench"]] = record
    return results


def committed_results(folder: Path = RESULTS_DIR) -> list[Path]:
    """The JSON files of ``folder`` that git tracks (all of them outside a git checkout)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "."], cwd=folder, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(folder.glob("*.json"))
    return sorted(folder / name for name in listed.split("\0") if name.endswith(".json"))


def anchor(title: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def provenance(record: dict) -> str:
    """Where, when and how a result was measured, in one line."""
    machine = record["machine"]
    flags = machine.get("isa_flags")
    flags = ", ".join(flags) if flags else ("none of avx2, avx512f, avx512_bf16, amx_tile"
                                            if flags == [] else "ISA flags not recorded")
    load = machine.get("load_average")
    load = " / ".join(fmt(x) for x in load) if load else "not recorded"
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    date = record["date"].replace("T", " ").replace("+00:00", " UTC")
    return (f"Measured {date} on {machine.get('cpu_model') or 'an unnamed CPU'} ({flags}), "
            f"{machine.get('cores')} cores{gpu}, load average {load}, by `{record['command']}`.")


def section(spec: Section, record: dict | None) -> list[str]:
    lines = [f"### {spec.title}", "", spec.about, ""]
    if record is None:
        return lines + [f"Not measured yet: `{spec.command}`", ""]
    return lines + [f"*{provenance(record)}*", "", *spec.render(record["figures"]), ""]


def render(results: dict[str, dict]) -> str:
    """The whole page for ``results`` (bench name -> result record)."""
    lines = [INTRO, "| bench | measured |", "|---|---|"]
    for spec in SECTIONS:
        record = results.get(spec.name)
        when = record["date"][:10] if record else "not yet"
        lines.append(f"| [{spec.title}](#{anchor(spec.title)}) (`bench.{spec.kind}.{spec.name}`)"
                     f" | {when} |")
    lines.append("")
    for kind, heading in KINDS.items():
        lines += [f"## {heading}", ""]
        for spec in SECTIONS:
            if spec.kind == kind:
                lines += section(spec, results.get(spec.name))
    known = {spec.name for spec in SECTIONS}
    others = sorted(set(results) - known)
    if others:
        lines += ["## Other results", ""]
        for name in others:
            record = results[name]
            lines += [f"### {name}", "", f"*{provenance(record)}*", "",
                      *generic(record["figures"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--out", type=Path, default=PAGE)
    parser.add_argument("--check", action="store_true",
                        help="compare with --out instead of writing it; exit 1 if it differs")
    args = parser.parse_args(argv)
    page = render(load_results(args.results_dir.glob("*.json")))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != page:
            print(f"{args.out} is not the rendering of {args.results_dir}/*.json: run "
                  "python -m bench.common.render_docs", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
