"""REAL's cheap baselines (Parashar et al., CVPR 2024, "The Neglected Tails in Vision-Language
Models") on our retrieved pairs; neither trains a tower.

* REAL-Prompt: each class is prompted with its most frequent name in the corpus captions (the
  class name or one of its synonyms from the domain spec, counted in DuckDB), in the domain's
  templates; the text classifier of those prompts is the model's head.
* REAL-Linear: a linear head on the frozen base image features of the retrieved pairs, labelled
  with the class they were retrieved for, initialised from the text classifier and averaged
  with it (weights, ``alpha`` zero-shot) as REAL ensembles the two.

Each is saved as a folder (``head.safetensors`` + ``real.json``) that evaluation loads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from safetensors.numpy import load_file, save_file

from react_assets.customize.linear_head import HeadConfig, LinearHead, train_head
from react_assets.domains.spec import DomainSpec
from react_assets.embed.lookup import EmbeddingLookup, embedding_folders
from react_assets.files.atomic import atomic_path, write_json
from react_assets.files.hashing import file_sha256
from react_assets.metadata import Store
from react_assets.metadata.sql import count_caption_synonyms, select_domain_retrievals
from react_assets.models.factory import ClipBundle
from react_assets.retrieve.domain import encode_texts

log = logging.getLogger(__name__)

HEAD_FILE, CONFIG_FILE, FORMAT = "head.safetensors", "real.json", "react-real-head/1"


@dataclass(frozen=True)
class RealConfig:
    """How REAL-Linear is trained and ensembled (REAL-Prompt has no setting)."""

    head: HeadConfig = HeadConfig(epochs=200, lr=1e-3, weight_decay=1e-4)
    alpha: float = 0.5  # weight of the zero-shot head in the ensemble

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"RealConfig.alpha must be in [0, 1], got {self.alpha}")


@dataclass(frozen=True)
class RealBaseline:
    """A saved REAL baseline: its id, kind, folder, names, cost and training-set size."""

    model_id: str
    kind: str
    folder: Path
    names: tuple[str, ...]
    elapsed_s: float
    num_parameters: int
    n_train: int


def synonym_counts(store: Store, spec: DomainSpec) -> dict[str, dict[str, int]]:
    """Per class, each candidate name (class name first, then its synonyms) and the number of
    corpus captions that contain it as whole words."""
    rows = [{"class_index": i, "name": name}
            for i, cls in enumerate(spec.classes) for name in spec.names_of(cls)]
    synonyms = pa.Table.from_pylist(rows)

    def read(conn) -> list[tuple]:
        conn.register("synonyms", synonyms)
        try:
            return conn.execute(count_caption_synonyms).fetchall()
        finally:
            conn.unregister("synonyms")

    found = store.read(read)
    counts = {cls: dict.fromkeys(spec.names_of(cls), 0) for cls in spec.classes}
    for class_index, name, n in found:
        counts[spec.classes[class_index]][name] = int(n)
    return counts


def most_frequent_names(counts: dict[str, dict[str, int]]) -> tuple[str, ...]:
    """Each class's most frequent name; ties (and no match at all) go to the earlier name,
    the class name first."""
    return tuple(max(names, key=lambda n, c=names: (c[n], -list(c).index(n)))
                 for names in counts.values())


@torch.inference_mode()
def text_classifier(bundle: ClipBundle, names: tuple[str, ...], templates: tuple[str, ...]
                    ) -> np.ndarray:
    """The zero-shot classifier ``(D, C)`` of ``names`` in ``templates`` (ELEVATER's way)."""
    texts = [t.format(name) for name in names for t in templates]
    per_text = torch.from_numpy(encode_texts(bundle, texts)).view(len(names), len(templates), -1)
    return torch.nn.functional.normalize(per_text.mean(dim=1), dim=-1).T.contiguous().numpy()


def retrieved_features(store: Store, base_model_id: str, domain: str
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Base image features (from the corpus embeddings) of a domain's retrieved pairs and the
    class each was retrieved for; the general sample (no class) is left out."""
    rows = [r for r in store.fetch(select_domain_retrievals, {"domain": domain})
            if r["class_index"] >= 0]
    if not rows:
        raise ValueError(f"domain {domain!r} has no class-retrieved pairs for REAL-Linear")
    ids = np.array([r["pair_id"] for r in rows], dtype=np.int64)
    labels = np.array([r["class_index"] for r in rows], dtype=np.int64)
    return EmbeddingLookup(embedding_folders(store, base_model_id))(ids), labels


def build_real_prompt(store: Store, bundle: ClipBundle, spec: DomainSpec, folder: Path
                      ) -> RealBaseline:
    """REAL-Prompt for ``spec``, saved under ``folder``."""
    started = time.perf_counter()
    counts = synonym_counts(store, spec)
    names = most_frequent_names(counts)
    head = LinearHead.from_classifier(text_classifier(bundle, names, spec.templates))
    elapsed = time.perf_counter() - started
    model_id = save_head(folder, head, spec.name, "real-prompt",
                         {"names": list(names), "counts": counts, "num_parameters": 0})
    log.info("REAL-Prompt %s: %s", spec.name, dict(zip(spec.classes, names, strict=True)))
    return RealBaseline(model_id, "real-prompt", folder, names, elapsed, 0, 0)


def build_real_linear(store: Store, bundle: ClipBundle, base_model_id: str, spec: DomainSpec,
                      folder: Path, config: RealConfig | None = None) -> RealBaseline:
    """REAL-Linear for ``spec``: a head on the retrieved pairs, ensembled with the zero-shot one."""
    config = config or RealConfig()
    started = time.perf_counter()
    features, labels = retrieved_features(store, base_model_id, spec.name)
    head = real_linear_head(features, labels,
                            text_classifier(bundle, spec.classes, spec.templates), config)
    elapsed = time.perf_counter() - started
    model_id = save_head(folder, head, spec.name, "real-linear",
                         {"config": dataclasses.asdict(config), "n_train": int(len(labels)),
                          "num_parameters": head.num_parameters,
                          "per_class": np.bincount(labels, minlength=len(spec.classes)).tolist()})
    return RealBaseline(model_id, "real-linear", folder, tuple(spec.classes), elapsed,
                        head.num_parameters, int(len(labels)))


def real_linear_head(features: np.ndarray, labels: np.ndarray, classifier: np.ndarray,
                     config: RealConfig | None = None) -> LinearHead:
    """A head trained on ``(features, labels)`` from the text ``classifier`` ``(D, C)``, then
    averaged with the zero-shot head (``alpha`` of it), as REAL-Linear does."""
    config = config or RealConfig()
    zeroshot = LinearHead.from_classifier(classifier)
    trained = train_head(features, labels, zeroshot.weight.shape[1], config.head, init=zeroshot)
    return zeroshot.blend(trained, config.alpha)


def save_head(folder: Path, head: LinearHead, domain: str, kind: str, extra: dict[str, Any]
              ) -> str:
    """Write the head and its JSON; returns ``real-<domain>-<kind>@sha256:<12 hex>``."""
    with atomic_path(folder / HEAD_FILE) as tmp:
        save_file({"weight": np.ascontiguousarray(head.weight),
                   "bias": np.ascontiguousarray(head.bias)}, str(tmp))
    model_id = f"{kind.replace('real-', f'real-{domain}-', 1)}@sha256:" \
               f"{file_sha256(folder / HEAD_FILE)[:12]}"
    write_json(folder / CONFIG_FILE, {"format": FORMAT, "model_id": model_id, "kind": kind,
                                      "domain": domain, **extra})
    return model_id


def load_head(folder: Path | str) -> LinearHead:
    """The head a REAL baseline saved under ``folder``."""
    folder = Path(folder)
    meta = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder / CONFIG_FILE}: format {meta.get('format')!r}, not {FORMAT}")
    tensors = load_file(str(folder / HEAD_FILE))
    return LinearHead(tensors["weight"], tensors["bias"])
