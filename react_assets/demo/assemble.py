"""Turning the sources into the world's parts: per-domain splits, the general split, the
captioned retrieval set and the corpus candidates."""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass, field

from react_assets.demo.captions import DIGITS, FASHION, FASHION_CLASSES
from react_assets.demo.config import DemoWorldConfig
from react_assets.demo.samples import Sample, Skipped
from react_assets.demo.sources_clipart import load_clipart_samples
from react_assets.demo.sources_emoji import load_emoji_samples
from react_assets.demo.sources_labelled import digit_samples, fashion_samples, load_fashion
from react_assets.demo.splits import ClassSplit, split_per_class

log = logging.getLogger(__name__)
EMOJI_GROUPS = ("Food & Drink", "Animals & Nature")
EMOJI_CLASS_NAMES = {
    "food-fruit": "fruit", "food-vegetable": "vegetable", "food-prepared": "prepared food",
    "food-asian": "asian food", "food-marine": "seafood", "food-sweet": "sweets",
    "drink": "drink", "dishware": "dishware", "animal-mammal": "mammal", "animal-bird": "bird",
    "animal-amphibian": "amphibian", "animal-reptile": "reptile",
    "animal-marine": "marine animal", "animal-bug": "bug", "plant-flower": "flower",
    "plant-other": "plant",
}
EMOJI_MIN_PER_CLASS = 5
CLIPART_EXCLUDED = ("special", "unsorted")  # grab-bag folders, not categories


@dataclass
class WorldParts:
    """Everything the world holds before it is written."""

    domains: dict[str, ClassSplit] = field(default_factory=dict)
    general: ClassSplit = field(default_factory=ClassSplit)
    retrieval: list[Sample] = field(default_factory=list)
    corpus: list[Sample] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # class -> other names

    def held_out(self) -> dict[str, list[Sample]]:
        """Every image that must stay out of the corpus, by the set it belongs to."""
        sets = {f"{name}-test": s.eval for name, s in self.domains.items()}
        sets.update({f"{name}-examples": s.examples for name, s in self.domains.items()})
        sets.update({f"{name}-train": s.train for name, s in self.domains.items()})
        sets["clipart-test"] = self.general.eval
        sets["retrieval"] = self.retrieval
        return sets


def fashion_split(config: DemoWorldConfig) -> ClassSplit:
    """Eval = a seeded subsample of the test split; examples, the labelled train split (at most
    ``train_per_class`` per class, never in the corpus) and the corpus from the train split."""
    fashion_dir = config.sources.fashion_dir
    train_images, train_labels = load_fashion(fashion_dir, "train")
    rng = random.Random(f"{config.seed}:fashion-split")
    order = rng.sample(range(len(train_labels)), len(train_labels))
    taken = {c: 0 for c in range(len(FASHION_CLASSES))}
    trained = dict(taken)
    example_rows, train_rows, corpus_rows = [], [], []
    for row in order:
        label = int(train_labels[row])
        if taken[label] < config.examples_per_class:
            taken[label] += 1
            example_rows.append(row)
        elif trained[label] < config.train_per_class:
            trained[label] += 1
            train_rows.append(row)
        elif config.fashion_train_limit is None or len(corpus_rows) < config.fashion_train_limit:
            corpus_rows.append(row)
    test_images, test_labels = load_fashion(fashion_dir, "test")
    n_test = len(test_labels) if config.fashion_test_limit is None else config.fashion_test_limit
    test_rows = sorted(rng.sample(range(len(test_labels)), min(n_test, len(test_labels))))
    common = {"side": config.fashion_side, "noise": config.caption_noise, "seed": config.seed}
    train = fashion_samples(train_images, train_labels, "train",
                            example_rows + train_rows + corpus_rows, **common)
    test = fashion_samples(test_images, test_labels, "test", test_rows, **common)
    present = {s.label for s in test}
    n_ex, n_train = len(example_rows), len(train_rows)
    return ClassSplit(classes=[c for c in FASHION_CLASSES if c in present], eval=test,
                      examples=train[:n_ex], train=train[n_ex:n_ex + n_train],
                      corpus=train[n_ex + n_train:])


def emoji_parts(config: DemoWorldConfig, parts: WorldParts, rng: random.Random) -> list[Sample]:
    """Split emoji into the target domain (subgroups of EMOJI_GROUPS) and general emoji.

    Returns the general emoji; the domain split goes into ``parts.domains["emoji"]``.
    """
    samples, skipped = load_emoji_samples(config)
    parts.skipped.extend(skipped)
    target = [
        dataclasses.replace(s, domain="emoji", label=EMOJI_CLASS_NAMES.get(
            s.extra["subgroup"], s.extra["subgroup"].replace("-", " ")))
        for s in samples if s.extra["group"] in EMOJI_GROUPS
    ]
    split = split_per_class(target, heldout_fraction=config.heldout_fraction,
                            examples_per_class=config.examples_per_class,
                            min_per_class=EMOJI_MIN_PER_CLASS, rng=rng,
                            train_per_class=config.train_per_class)
    parts.domains["emoji"] = split
    for subgroup, name in EMOJI_CLASS_NAMES.items():  # the captions name the subgroup
        words = subgroup.replace("-", " ")
        parts.synonyms[name] = [words] + ([subgroup.split("-")[-1]]
                                          if subgroup.split("-")[-1] != name else [])
    small = [dataclasses.replace(s, domain=None, label=None) for s in split.small]
    split.small = []
    return small + [s for s in samples if s.extra["group"] not in EMOJI_GROUPS]


def clipart_parts(config: DemoWorldConfig, parts: WorldParts, rng: random.Random) -> None:
    """The general split: clip-art categories, held out per category."""
    samples, skipped = load_clipart_samples(config)
    parts.skipped.extend(skipped)
    parts.general = split_per_class(
        samples, heldout_fraction=config.heldout_fraction, examples_per_class=0,
        min_per_class=config.clipart_min_per_class, rng=rng,
        heldout_max=config.clipart_heldout_max_per_class, excluded=CLIPART_EXCLUDED,
    )


def retrieval_set(
    config: DemoWorldConfig, clipart_eval: list[Sample], general_emoji: list[Sample],
    rng: random.Random,
) -> list[Sample]:
    """Captioned held-out pairs: a third emoji (held out here), the rest held-out clip-art.

    Captions are distinct within the set, so text-to-image recall has one right answer.
    """
    n_emoji = min(len(general_emoji), config.retrieval_size // 3)
    pool = rng.sample(general_emoji, n_emoji)
    pool += rng.sample(clipart_eval, len(clipart_eval))
    chosen: list[Sample] = []
    captions: set[str] = set()
    for sample in pool:
        if len(chosen) < config.retrieval_size and sample.caption.lower() not in captions:
            captions.add(sample.caption.lower())
            chosen.append(sample)
    return chosen


def assemble_world(config: DemoWorldConfig) -> WorldParts:
    """Load every source and split it; the corpus list holds candidates, not yet de-duplicated."""
    parts = WorldParts()
    for vocabulary in (FASHION, DIGITS):  # the words the corpus captions use for each class
        parts.synonyms.update({c: [w for w in words if w != c]
                               for c, words in vocabulary.synonyms.items()})
    rng = random.Random(f"{config.seed}:splits")
    parts.domains["fashion"] = fashion_split(config)
    digits = digit_samples(side=config.digits_side, noise=config.caption_noise, seed=config.seed,
                           limit=config.digits_limit)
    parts.domains["digits"] = split_per_class(
        digits, heldout_fraction=config.heldout_fraction,
        examples_per_class=config.examples_per_class, min_per_class=2, rng=rng,
        train_per_class=config.train_per_class)
    general_emoji = emoji_parts(config, parts, rng)
    clipart_parts(config, parts, rng)
    parts.retrieval = retrieval_set(config, parts.general.eval, general_emoji, rng)
    retrieval_ids = {s.origin for s in parts.retrieval}
    parts.corpus = [s for split in parts.domains.values() for s in split.corpus + split.small]
    parts.corpus += [s for s in general_emoji if s.origin not in retrieval_ids]
    parts.corpus += parts.general.corpus + parts.general.small
    log.info("assembled %d corpus candidates, %d retrieval pairs", len(parts.corpus),
             len(parts.retrieval))
    return parts
