"""Caption features kept beside a model: what its frozen text tower gave a set of captions, so a
later stage does not encode them again.

The demo base is pre-trained against a locked text tower on the corpus's general captions, and
the embedding stage then encodes the whole corpus's captions with that same tower: most of them a
second time. The pre-training writes the features of its captions into the model folder; the
embedding stage takes the ones it finds there (after checking that a few of them match what the
tower gives now) and encodes only the rest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from react_assets.files.atomic import atomic_path
from react_assets.models.text import encode_texts

log = logging.getLogger(__name__)

CAPTION_FEATURES_FILE = "caption_features.npz"
PROBE_CAPTIONS = 4
MIN_PROBE_COSINE = 0.999  # float16 storage rounds the features; another tower is far below


@dataclass(frozen=True)
class CaptionFeatures:
    """L2-normalised features (U, D) of distinct captions, row i = ``captions[i]``, held in
    float16 as saved (so features read back equal the ones first used, bit for bit)."""

    captions: tuple[str, ...]
    features: np.ndarray

    def __post_init__(self) -> None:
        if len(self.captions) != len(self.features) or len(set(self.captions)) != len(
                self.captions):
            raise ValueError(f"CaptionFeatures: {len(self.captions)} captions (distinct ones "
                             f"expected) for {len(self.features)} feature rows")
        object.__setattr__(self, "features", np.asarray(self.features, dtype=np.float16))

    def known(self, captions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(mask of the ``captions`` held here, float32 features of those, in order)."""
        position = {caption: i for i, caption in enumerate(self.captions)}
        rows = np.array([position.get(c, -1) for c in captions], dtype=np.int64)
        mask = rows >= 0
        return mask, self.features[rows[mask]].astype(np.float32)

    def made_by(self, model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor]) -> bool:
        """Whether ``model``'s text tower gives (within float16 rounding) the first captions'
        features: it is the tower these were made with."""
        probe = list(self.captions[:PROBE_CAPTIONS])
        if not probe:
            return True
        now = encode_texts(model, tokenizer, probe, PROBE_CAPTIONS)
        stored = torch.from_numpy(self.features[:len(probe)].astype(np.float32))
        if now.shape != stored.shape:  # another embedding width: another tower
            return False
        return bool(torch.nn.functional.cosine_similarity(now, stored).min() >= MIN_PROBE_COSINE)

    def save(self, path: Path) -> Path:
        """Write as one ``.npz``: the features in float16 and the captions as UTF-8 JSON."""
        text = np.frombuffer(json.dumps(list(self.captions)).encode("utf-8"), dtype=np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, features=self.features, captions_json=text)
        return path

    @classmethod
    def load(cls, path: Path) -> CaptionFeatures | None:
        """The features saved at ``path``, or None when there is no (readable) file."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                captions = json.loads(data["captions_json"].tobytes().decode("utf-8"))
                return cls(tuple(captions), data["features"])
        except (OSError, ValueError, KeyError) as err:
            log.warning("ignoring unreadable caption features %s (%s)", path, err)
            return None


def encode_caption_features(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                            captions: Sequence[str], batch_size: int,
                            device: torch.device | str | None = None) -> CaptionFeatures:
    """Features of the distinct ``captions`` (first-seen order), encoded without grad."""
    distinct = list(dict.fromkeys(captions))
    return CaptionFeatures(tuple(distinct),
                           encode_texts(model, tokenizer, distinct, batch_size, device).numpy())

