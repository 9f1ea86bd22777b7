"""Splitting samples into corpus, evaluation and example sets, and proving they are disjoint."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from react_assets.demo.samples import Sample, Skipped


class ContaminationError(RuntimeError):
    """An evaluation or example image is also in the corpus (same sha256)."""


@dataclass
class ClassSplit:
    """One labelled collection split per class; ``classes`` are those with an evaluation set."""

    classes: list[str] = field(default_factory=list)
    eval: list[Sample] = field(default_factory=list)
    examples: list[Sample] = field(default_factory=list)
    train: list[Sample] = field(default_factory=list)  # labelled train split (linear probes)
    corpus: list[Sample] = field(default_factory=list)
    small: list[Sample] = field(default_factory=list)


def split_per_class(
    samples: Sequence[Sample], *, heldout_fraction: float, examples_per_class: int,
    min_per_class: int, rng: random.Random, heldout_max: int | None = None,
    excluded: Iterable[str] = (), train_per_class: int = 0,
) -> ClassSplit:
    """Hold out ``heldout_fraction`` of each class (at least one, at most ``heldout_max``).

    Examples (for image-to-image retrieval) come from the rest, at most a quarter of it, so the
    corpus keeps most of a small class. The train split (labelled images for linear probes, kept
    out of the corpus) takes ``train_per_class`` of what is left, at most half of it. Classes
    with fewer than ``min_per_class`` samples, and ``excluded`` ones, are not classes: their
    samples go to ``small`` (corpus-only material).
    """
    by_class: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.label is None:
            raise ValueError(f"{sample.origin}: cannot split an unlabelled sample by class")
        by_class[sample.label].append(sample)
    split, excluded = ClassSplit(), set(excluded)
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < max(2, min_per_class) or label in excluded:
            split.small.extend(members)
            continue
        order = rng.sample(members, len(members))
        n_eval = max(1, round(len(order) * heldout_fraction))
        n_eval = min(n_eval, heldout_max) if heldout_max is not None else n_eval
        n_examples = min(examples_per_class, (len(order) - n_eval) // 4)
        split.classes.append(label)
        split.eval.extend(order[:n_eval])
        rest = order[n_eval + n_examples:]
        n_train = min(train_per_class, len(rest) // 2)
        split.examples.extend(order[n_eval:n_eval + n_examples])
        split.train.extend(rest[:n_train])
        split.corpus.extend(rest[n_train:])
    return split


def decontaminate(
    candidates: Sequence[Sample], held_out: Iterable[Sample]
) -> tuple[list[Sample], list[Skipped]]:
    """Drop corpus candidates whose image equals a held-out image or an earlier candidate."""
    protected = {sample.sha256 for sample in held_out}
    seen: set[str] = set()
    kept: list[Sample] = []
    skipped: list[Skipped] = []
    for sample in candidates:
        digest = sample.sha256
        if digest in protected:
            skipped.append(Skipped(sample.origin, "same_image_as_heldout", digest))
        elif digest in seen:
            skipped.append(Skipped(sample.origin, "duplicate_image", digest))
        else:
            seen.add(digest)
            kept.append(sample)
    return kept, skipped


def assert_disjoint(corpus: Iterable[Sample], held_out: dict[str, Sequence[Sample]]) -> None:
    """Raise :class:`ContaminationError` if any held-out image's sha256 is in the corpus."""
    corpus_hashes = {sample.sha256: sample.origin for sample in corpus}
    clashes = [
        f"{name}: {sample.origin} == corpus {corpus_hashes[sample.sha256]}"
        for name, samples in held_out.items()
        for sample in samples
        if sample.sha256 in corpus_hashes
    ]
    if clashes:
        shown = "; ".join(clashes[:5])
        raise ContaminationError(f"{len(clashes)} held-out image(s) are in the corpus: {shown}")


def count_reasons(skipped: Iterable[Skipped]) -> dict[str, dict[str, int]]:
    """Skipped items per source (the part of the origin before ':') and reason."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in skipped:
        counts[item.origin.split(":", 1)[0]][item.reason] += 1
    return {source: dict(sorted(c.items())) for source, c in sorted(counts.items())}
