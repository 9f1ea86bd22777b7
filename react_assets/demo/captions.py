"""Alt-text style captions for labelled images: varied templates, synonyms, and web-like noise.

With probability ``noise`` a caption is corrupted, as web alt-text is: half of the time it is
unrelated boilerplate, half of the time it describes a different class (mislabelled).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

UNRELATED = (
    "click here to download", "free shipping on all orders over $50", "image", "untitled",
    "IMG_{n}.jpg", "thumbnail {n}", "photo by user{n}", "see more like this",
    "best price guaranteed", "screenshot {n}", "scan0{n}", "product code {n}",
)


@dataclass(frozen=True)
class CaptionVocabulary:
    """Caption templates (one ``{}`` for a synonym) and the synonyms of each class."""

    templates: tuple[str, ...]
    synonyms: dict[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        if any(t.count("{}") != 1 for t in self.templates):
            raise ValueError("CaptionVocabulary: every template needs exactly one '{}'")
        empty = [c for c, words in self.synonyms.items() if not words]
        if empty:
            raise ValueError(f"CaptionVocabulary: classes without synonyms: {empty}")


@dataclass(frozen=True)
class Caption:
    """A caption and how it was made: noise is None, ``unrelated`` or ``mislabelled``."""

    text: str
    noise: str | None


def make_caption(
    label: str, vocabulary: CaptionVocabulary, noise: float, rng: random.Random
) -> Caption:
    """One caption for an image of class ``label``."""
    if rng.random() < noise:
        if rng.random() < 0.5:
            return Caption(rng.choice(UNRELATED).format(n=rng.randrange(10, 9999)), "unrelated")
        others = [c for c in vocabulary.synonyms if c != label]
        label, kind = rng.choice(others), "mislabelled"
    else:
        kind = None
    word = rng.choice(vocabulary.synonyms[label])
    return Caption(rng.choice(vocabulary.templates).format(word), kind)


def _vocab(templates: Sequence[str], synonyms: dict[str, Sequence[str]]) -> CaptionVocabulary:
    return CaptionVocabulary(tuple(templates), {k: tuple(v) for k, v in synonyms.items()})


FASHION = _vocab(
    ["{}", "a photo of {}", "women's {} for sale", "men's {}, black and white",
     "buy {} online", "new {} - size M", "{} product image", "grayscale picture of {}",
     "vintage {}", "{} in our summer collection"],
    {
        "t-shirt": ["t-shirt", "tee", "top", "tshirt", "crew neck tee"],
        "trouser": ["trousers", "pants", "jeans", "slacks"],
        "pullover": ["pullover", "sweater", "jumper", "knit sweater"],
        "dress": ["dress", "summer dress", "evening dress", "gown"],
        "coat": ["coat", "jacket", "winter coat", "overcoat"],
        "sandal": ["sandals", "sandal", "flip flops", "strappy sandals"],
        "shirt": ["shirt", "blouse", "button-down shirt", "flannel shirt"],
        "sneaker": ["sneakers", "trainers", "running shoes", "sneaker"],
        "bag": ["bag", "handbag", "purse", "tote bag", "shoulder bag"],
        "ankle boot": ["ankle boots", "boots", "booties", "chelsea boots"],
    },
)
FASHION_CLASSES = tuple(FASHION.synonyms)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS = _vocab(
    ["handwritten digit {}", "the number {} written by hand", "scan of a handwritten {}",
     "{}", "a low resolution picture of the digit {}", "pencil drawing of the number {}",
     "number {} from a zip code form", "my kid wrote a {}"],
    {word: [word, str(i)] for i, word in enumerate(DIGIT_WORDS)},
)
DIGIT_CLASSES = DIGIT_WORDS
