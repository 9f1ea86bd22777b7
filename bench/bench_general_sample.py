"""Forgetting with and without the general sample, on a materialized REACT_HOME.

For each domain, retrieval runs twice: as the domain's spec says but with ``general_fraction``
0 (retrieved pairs alone, the paper's recipe), and with ``--fraction`` (the same pairs plus a
uniform sample of the rest of the corpus). The ``react_model`` default recipe trains each
variant on each set; base and customized models are evaluated zero-shot on the domain's datasets
and the general sets. Works on a copy of ``react.duckdb`` in a temporary folder: the home's
retrievals and models are left as they are.

Usage: python bench/bench_general_sample.py [--react-home var] [--domains digits fashion]
       [--fraction 1.0] [--variants gated-image locked-text]
Prints a table and writes bench/results/general_sample.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import shutil
import tempfile
import time
from pathlib import Path

from react_assets.customize.domain import customize_domain
from react_assets.customize.recipe import CustomizationRecipe
from react_assets.customize.saved import load_customized_model
from react_assets.domains.registry import registered_domain
from react_assets.evaluate.domain import EvaluatedModel, evaluate_domain
from react_assets.files.atomic import write_json
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store
from react_assets.models.base import current_base, load_base_bundle
from react_assets.retrieve.domain import retrieve_registered_domain

LOG = logging.getLogger("bench_general_sample")
RESULTS = Path(__file__).parent / "results" / "general_sample.json"


def retrieve(store: Store, paths: ReactPaths, domain: str, fraction: float) -> dict:
    """Re-retrieve ``domain`` with ``general_fraction`` = ``fraction``; returns its stats."""
    done = retrieve_registered_domain(store, paths, domain,
                                      overrides={"general_fraction": fraction})
    return done.result.stats.as_dict()


def train_and_evaluate(store: Store, domain: str, variants: list[str], out: Path) -> dict:
    """Train every variant on the domain's current retrieval; top-1 (x100) per model, dataset."""
    base = current_base(store)
    recipe = CustomizationRecipe()
    models = [EvaluatedModel(base.model_id, "base", load_base_bundle(store))]
    training = {}
    for variant in variants:
        made = customize_domain(store, base, domain, recipe.customization(variant),
                                recipe.train(variant), out / variant)
        training[variant] = {"pairs": len(made.retrieval.pair_ids), "steps": made.train.steps,
                             "seconds": round(made.train.elapsed_s, 1)}
        models.append(EvaluatedModel(made.model_id, variant, load_customized_model(made.folder)))
    evaluation = evaluate_domain(registered_domain(store, domain), models)
    kind = {m.model_id: m.kind for m in models}
    scores = {f"{kind[model_id]}:{dataset}": round(100 * result.value, 2)
              for (model_id, dataset), result in evaluation.zeroshot.items()}
    return {"training": training, "top1": scores}


def table(rows: list[dict], variants: list[str]) -> str:
    """Markdown: one line per domain, dataset and setting; base and each variant's top-1."""
    lines = ["| domain | dataset | general_fraction | base | " + " | ".join(variants) + " |",
             "|---|---|---|---|" + "---|" * len(variants)]
    for row in rows:
        datasets = sorted({key.split(":", 1)[1] for key in row["top1"]})
        for dataset in datasets:
            base = row["top1"][f"base:{dataset}"]
            cells = [f"{row['top1'][f'{v}:{dataset}']:.2f} ({row['top1'][f'{v}:{dataset}'] - base:+.2f})"
                     for v in variants]
            lines.append(f"| {row['domain']} | {dataset} | {row['general_fraction']} | {base:.2f} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--react-home", type=Path, default=Path("var"))
    parser.add_argument("--domains", nargs="+", default=["digits", "fashion"])
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--variants", nargs="+", default=["gated-image", "locked-text"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    source = ReactPaths(args.react_home).duckdb
    if not source.is_file():
        raise SystemExit(f"{source} not found: materialize the pipeline (./scripts/demo.sh) first")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-general-") as tmp:
        store = open_store(Path(tmp))
        shutil.copy2(source, store.path)
        for domain in args.domains:
            for fraction in (0.0, args.fraction):
                start = time.perf_counter()
                stats = retrieve(store, ReactPaths(Path(tmp)), domain, fraction)
                result = train_and_evaluate(store, domain, args.variants,
                                            Path(tmp) / domain / str(fraction))
                rows.append({"domain": domain, "general_fraction": fraction,
                             "general_pairs": stats["general_pairs"],
                             "class_pairs": sum(stats["count_per_class"]),
                             "seconds": round(time.perf_counter() - start, 1), **result})
                LOG.info("%s", json.dumps(rows[-1]))
    print(table(rows, args.variants))
    write_json(RESULTS, {"react_home": str(args.react_home), "variants": args.variants,
                         "recipe": dataclasses.asdict(CustomizationRecipe()), "machine": platform.machine(),
                         "rows": rows})
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
