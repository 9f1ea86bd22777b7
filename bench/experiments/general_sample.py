"""Forgetting with and without the general sample, on a materialized REACT_HOME.

For each domain, retrieval runs twice: as the domain's spec says but with ``general_fraction``
0 (retrieved pairs alone, the paper's recipe), and with ``--fraction`` (the same pairs plus a
uniform sample of the rest of the corpus). The ``react_model`` default recipe trains each
variant on each set; base and customized models are evaluated zero-shot on the domain's datasets
and the general sets. Works on a scratch copy of the home (``bench.common.scratch_home``): the
home's retrievals and models are left as they are.

Usage: python -m bench.experiments.general_sample [--react-home var] [--domains digits fashion]
       [--fraction 1.0] [--variants gated-image locked-text]
Prints a table and writes bench/results/general_sample.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

from bench.common.results import add_results_dir, write_result
from bench.common.scratch_home import BASE_LABEL, ScratchHome
from react_assets.customize.recipe import CustomizationRecipe

LOG = logging.getLogger(__name__)


def table(rows: list[dict], variants: list[str]) -> str:
    """Markdown: one line per domain, dataset and setting; base and each variant's top-1."""
    lines = ["| domain | dataset | general_fraction | base | " + " | ".join(variants) + " |",
             "|---|---|---|---|" + "---|" * len(variants)]
    for row in rows:
        top1 = row["top1"]
        for dataset, base in top1[BASE_LABEL].items():
            cells = [f"{top1[v][dataset]:.2f} ({top1[v][dataset] - base:+.2f})" for v in variants]
            lines.append(f"| {row['domain']} | {dataset} | {row['general_fraction']} | "
                         f"{base:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--react-home", type=Path, default=Path("var"))
    parser.add_argument("--domains", nargs="+", default=["digits", "fashion"])
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--variants", nargs="+", default=["gated-image", "locked-text"])
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    recipe = CustomizationRecipe()
    rows = []
    with ScratchHome.of(args.react_home, prefix="bench-general-") as scratch:
        for domain in args.domains:
            for fraction in (0.0, args.fraction):
                start = time.perf_counter()
                stats = scratch.retrieve(domain, general_fraction=fraction)
                trained = [scratch.train(domain, recipe, variant, f"{variant}-{fraction}")
                           for variant in args.variants]
                top1 = scratch.top1(domain, trained)
                rows.append({
                    "domain": domain, "general_fraction": fraction,
                    "general_pairs": stats["general_pairs"],
                    "class_pairs": sum(stats["count_per_class"]),
                    "seconds": round(time.perf_counter() - start, 1),
                    "training": {t.made.variant: t.as_dict() for t in trained},
                    "top1": {BASE_LABEL: top1[BASE_LABEL],
                             **{t.made.variant: top1[t.label] for t in trained}}})
                LOG.info("%s", json.dumps(rows[-1]))
    print(table(rows, args.variants))
    figures = {"react_home": str(args.react_home), "variants": args.variants,
               "recipe": dataclasses.asdict(recipe), "rows": rows}
    print(f"wrote {write_result('general_sample', figures, directory=args.results_dir)}")
    return figures


if __name__ == "__main__":
    main()
