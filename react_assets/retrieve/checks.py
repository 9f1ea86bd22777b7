"""Data contracts of a domain's retrieved pairs: its newest retrieval set (the one the next
customization trains on; older sets stay as they were checked)."""

from __future__ import annotations

from react_assets.domains.datasets import dataset_sha256s
from react_assets.domains.registry import registered_domain
from react_assets.metadata import Store
from react_assets.metadata.sql import count_domain_retrievals_by_class, select_domain_retrieval_hashes
from react_assets.tracking.contracts import CheckOutcome


def min_pairs_per_class(store: Store, domain: str, minimum: int = 5) -> CheckOutcome:
    """Distinct retrieved pairs per class (a class with none counts 0) against the minimum."""
    spec = registered_domain(store, domain).spec
    found = {r["class_name"]: int(r["n_pairs"])
             for r in store.fetch(count_domain_retrievals_by_class, {"domain": domain})}
    per_class = {name: found.get(name, 0) for name in spec.classes}
    short = {name: n for name, n in per_class.items() if n < minimum}
    return CheckOutcome(passed=not short, metadata={
        "domain": domain, "min_pairs_per_class": minimum,
        "fewest": min(per_class.values(), default=0),
        "classes_below_minimum": short, "per_class": per_class,
    })


def no_evaluation_images(store: Store, domain: str, examples: int = 10) -> CheckOutcome:
    """Image sha256 of every retrieved pair against every image of the domain's datasets and of
    the general sets (which measure forgetting)."""
    datasets = registered_domain(store, domain).evaluation_datasets
    eval_hashes: set[str] = set()
    for dataset in datasets:
        eval_hashes |= dataset_sha256s(dataset)
    rows = store.fetch(select_domain_retrieval_hashes, {"domain": domain})
    dangling = sorted({int(r["pair_id"]) for r in rows if r["image_sha256"] is None})
    leaked = [r for r in rows if r["image_sha256"] in eval_hashes]
    return CheckOutcome(passed=not leaked and not dangling, metadata={
        "domain": domain, "retrieved_pairs": len({r["pair_id"] for r in rows}),
        "evaluation_images": len(eval_hashes),
        "datasets": ", ".join(d.name for d in datasets),
        "contaminated_pairs": len({r["pair_id"] for r in leaked}),
        "contaminated_examples": [{"pair_id": int(r["pair_id"]), "class": r["class_name"],
                                   "shard": r["shard_id"], "key": r["key"]}
                                  for r in leaked[:examples]],
        "pairs_missing_from_corpus": dangling[:examples],
    })
