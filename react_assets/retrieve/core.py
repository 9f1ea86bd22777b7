"""Per-domain retrieval: class-name x template queries -> de-duplicated, decontaminated pairs.

Every step is vectorised numpy over flat hit arrays, so a domain of 1000 classes x 80 templates
x k=50 (4M hits) stays in a few hundred MB and seconds of work after the faiss search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import faiss
import numpy as np
from tqdm import tqdm

from react_assets.domains.settings import RetrievalConfig
from react_assets.retrieve.recall import AnnRecall, RecallCheck, verify_recall

LOG = logging.getLogger(__name__)
HashSource = Mapping[int, str] | Callable[[np.ndarray], Mapping[int, str] | Sequence[str]]
SEARCH_BATCH = 4096
VECTOR_BATCH = 65_536
GENERAL_CLASS = -1  # class_index of the general sample's rows
GENERAL_SEED = 0


@dataclass(frozen=True)
class RetrievalStats:
    """What retrieval found and what the cleaning removed."""

    n_queries: int
    n_hits: int
    n_candidates: int  # distinct (class, pair) after merging a class's queries
    removed_duplicates: int  # pair or image hash already kept by a better-scoring class/row
    removed_exact_contamination: int
    removed_near_contamination: int
    removed_over_class_cap: int
    count_per_class: tuple[int, ...]
    general_pairs: int = 0
    removed_from_general: int = 0  # drawn, but contaminated or an image already kept
    ann_recall: AnnRecall = AnnRecall()  # the index's recall@k on these queries

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (for DuckDB, MLflow and asset metadata)."""
        return {name: _json_ready(value) for name, value in self.__dict__.items()}


def _json_ready(value: object) -> object:
    """A stats field as JSON: tuples as lists, the recall check as its dict."""
    if isinstance(value, AnnRecall):
        return value.as_dict()
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class RetrievalResult:
    """Retrieved rows sorted by (class, rank), then the general sample's rows (class_index
    GENERAL_CLASS, score 0, rank = draw order); one row per kept pair."""

    class_index: np.ndarray  # (N,) int64
    pair_id: np.ndarray  # (N,) int64
    score: np.ndarray  # (N,) float32
    rank: np.ndarray  # (N,) int64, 0 = best within its class
    mode: str
    stats: RetrievalStats

    def rows(self) -> list[tuple[int, int, float, int, str]]:
        """(class_index, pair_id, score, rank, mode) tuples, ready for a DuckDB insert."""
        return [(int(c), int(p), float(s), int(r), self.mode) for c, p, s, r in
                zip(self.class_index, self.pair_id, self.score, self.rank, strict=True)]


def search_queries(index: faiss.Index, query_vectors: np.ndarray,
                   k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, pair ids) of every query, (Q, k) each; missing hits have id -1."""
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != index.d:
        raise ValueError(f"query vectors must be (Q, {index.d}), got shape {queries.shape}")
    scores = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start in tqdm(range(0, len(queries), SEARCH_BATCH), desc="search", unit="batch",
                      leave=False):
        stop = start + SEARCH_BATCH
        scores[start:stop], ids[start:stop] = index.search(queries[start:stop], k)
    return scores, ids


def search_checked(index: faiss.Index, query_vectors: np.ndarray, k: int,
                   check: RecallCheck | None) -> tuple[np.ndarray, np.ndarray, AnnRecall]:
    """:func:`search_queries`, then (with ``check``) the recall of its hits against exact
    search; when the check raised the index's search parameter, the queries are searched again
    and those hits returned."""
    scores, ids = search_queries(index, query_vectors, k)
    if check is None:
        return scores, ids, AnnRecall(k=k)
    recall = verify_recall(index, np.asarray(query_vectors, dtype=np.float32), ids, check)
    if recall.raised:
        scores, ids = search_queries(index, query_vectors, k)
    return scores, ids, recall


def _first_of_groups(*keys: np.ndarray) -> np.ndarray:
    """Mask of rows whose keys differ from the previous row's (rows sorted by those keys)."""
    first = np.ones(len(keys[0]), dtype=bool)
    if len(first) > 1:
        same = np.ones(len(first) - 1, dtype=bool)
        for key in keys:
            same &= key[1:] == key[:-1]
        first[1:] = ~same
    return first


def _best_per(group: np.ndarray, score: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """Indices of the best-scoring row per ``group`` (ties: lower class, then row order)."""
    order = np.lexsort((cls, -score, group))
    return order[_first_of_groups(group[order])]


def _hashes(pair_ids: np.ndarray, pair_sha256: HashSource) -> list[str]:
    """The image sha256 of each pair, in the order of ``pair_ids``."""
    found = pair_sha256(pair_ids) if callable(pair_sha256) else pair_sha256
    if isinstance(found, Mapping):
        missing = [int(p) for p in pair_ids if int(p) not in found]
        if missing:
            raise KeyError(f"{len(missing)} retrieved pairs have no image sha256, "
                           f"e.g. pair id {missing[0]}")
        hashes = [found[int(p)] for p in pair_ids]
    else:
        hashes = list(found)
    if len(hashes) != len(pair_ids):
        raise ValueError(f"pair_sha256 returned {len(hashes)} hashes for {len(pair_ids)} pairs")
    return hashes


def _hash_codes(pair_ids: np.ndarray, pair_sha256: HashSource) -> tuple[np.ndarray, dict[str, int]]:
    """Integer codes of each pair's image sha256 (equal hashes, equal codes)."""
    hashes = _hashes(pair_ids, pair_sha256)
    codes: dict[str, int] = {}
    return np.fromiter((codes.setdefault(h, len(codes)) for h in hashes), dtype=np.int64,
                       count=len(hashes)), codes


def _near_eval_mask(pair_ids: np.ndarray, pair_vectors: Callable[[np.ndarray], np.ndarray],
                    eval_vectors: np.ndarray, threshold: float) -> np.ndarray:
    """True where a pair's image embedding has cosine >= threshold with any eval image."""
    near = np.zeros(len(pair_ids), dtype=bool)
    if len(eval_vectors) == 0 or len(pair_ids) == 0:
        return near
    evals = np.ascontiguousarray(eval_vectors, dtype=np.float32)
    flat = faiss.IndexFlatIP(evals.shape[1])
    flat.add(evals)
    for start in tqdm(range(0, len(pair_ids), VECTOR_BATCH), desc="decontaminate", leave=False):
        batch = pair_ids[start:start + VECTOR_BATCH]
        vectors = np.ascontiguousarray(pair_vectors(batch), dtype=np.float32)
        if vectors.shape != (len(batch), evals.shape[1]):
            raise ValueError(f"pair_vectors returned shape {vectors.shape} for {len(batch)} ids "
                             f"(expected ({len(batch)}, {evals.shape[1]}))")
        best, _ = flat.search(vectors, 1)
        near[start:start + len(batch)] = best[:, 0] >= threshold
    return near


def _contamination(pair: np.ndarray, pair_sha256: HashSource,
                   pair_vectors: Callable[[np.ndarray], np.ndarray], eval_vectors: np.ndarray,
                   eval_sha256: set[str], threshold: float
                   ) -> tuple[np.ndarray, dict[str, int], np.ndarray, np.ndarray]:
    """(image hash codes, their sha256 -> code map, exact-copy mask over ``pair``, near-copy
    mask over the non-exact)."""
    codes, code_of = _hash_codes(pair, pair_sha256)
    exact = np.isin(codes, [code_of[sha] for sha in eval_sha256 & code_of.keys()])
    near = _near_eval_mask(pair[~exact], pair_vectors, eval_vectors, threshold)
    return codes, code_of, exact, near


def _merge_class_hits(query_class: np.ndarray, scores: np.ndarray, ids: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Flatten (Q, k) hits to one row per distinct (class, pair), keeping the best score."""
    cls = np.repeat(query_class, ids.shape[1])
    pair, score = ids.ravel(), scores.ravel()
    hit = pair >= 0
    cls, pair, score = cls[hit], pair[hit], score[hit]
    order = np.lexsort((-score, pair, cls))  # best score first within (class, pair)
    keep = order[_first_of_groups(cls[order], pair[order])]
    return cls[keep], pair[keep], score[keep], int(hit.sum())


def _rank_within_class(cls: np.ndarray, score: np.ndarray,
                       pair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order by (class, -score, pair id) and the rank of each sorted row in its class."""
    order = np.lexsort((pair, -score, cls))
    cls_sorted = cls[order]
    starts = np.flatnonzero(_first_of_groups(cls_sorted))
    sizes = np.diff(np.append(starts, len(order)))
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    return order, rank


def retrieve_domain(query_class: np.ndarray, query_vectors: np.ndarray, index: faiss.Index,
                    config: RetrievalConfig,
                    pair_sha256: HashSource,
                    pair_vectors: Callable[[np.ndarray], np.ndarray],
                    eval_vectors: np.ndarray, eval_sha256: set[str],
                    corpus_ids: np.ndarray | None = None,
                    recall_check: RecallCheck | None = None) -> RetrievalResult:
    """Retrieve, merge, de-duplicate and decontaminate the pairs of one domain.

    Each class keeps the union of its queries' top-k (a pair keeps its best score); a pair, or
    an image hash, belongs to the one class where it scores highest; pairs whose image equals
    an evaluation image (sha256) or is a near copy (cosine >= threshold) are dropped.
    ``pair_sha256`` is a mapping, or a callable taking the candidate pair ids and returning a
    mapping or a sequence aligned with them; ``pair_vectors(ids)`` returns (n, D) image
    embeddings in the order of ``ids`` (called in batches of at most 65,536).
    With ``config.general_fraction`` > 0, ``corpus_ids`` (every pair id of the corpus) is
    sampled for the general rows, cleaned the same way.
    With ``recall_check``, the ANN hits are checked against exact search over the corpus shards
    and the index's search parameter raised (in place) while recall misses the index's target
    (:mod:`react_assets.retrieve.recall`); the stats record the outcome.
    """
    query_class = np.asarray(query_class, dtype=np.int64)
    if query_class.shape != (len(query_vectors),):
        raise ValueError(f"query_class has shape {query_class.shape} for "
                         f"{len(query_vectors)} query vectors")
    if config.general_fraction > 0 and corpus_ids is None:
        raise ValueError("RetrievalConfig.general_fraction > 0 needs corpus_ids to sample from")
    n_classes = int(query_class.max()) + 1 if len(query_class) else 0
    scores, ids, ann_recall = search_checked(index, query_vectors, config.k_per_query,
                                             recall_check)
    cls, pair, score, n_hits = _merge_class_hits(query_class, scores, ids)
    n_candidates = len(pair)

    keep = _best_per(pair, score, cls)  # a pair goes to its best class, once
    removed_dup = n_candidates - len(keep)
    cls, pair, score = cls[keep], pair[keep], score[keep]

    codes, code_of, exact, near = _contamination(pair, pair_sha256, pair_vectors, eval_vectors,
                                        eval_sha256, config.near_duplicate_threshold)
    clean = ~exact
    clean[np.flatnonzero(~exact)[near]] = False
    cls, pair, score, codes = cls[clean], pair[clean], score[clean], codes[clean]

    if config.dedupe_by_image_hash:
        keep = _best_per(codes, score, cls)
        removed_dup += len(pair) - len(keep)
        cls, pair, score, codes = cls[keep], pair[keep], score[keep], codes[keep]

    order, rank = _rank_within_class(cls, score, pair)
    cls, pair, score, codes = cls[order], pair[order], score[order], codes[order]
    capped = np.ones(len(pair), dtype=bool)
    if config.max_per_class is not None:
        capped = rank < config.max_per_class
    cls, pair, score, rank = cls[capped], pair[capped], score[capped], rank[capped]
    kept_codes = set(codes[capped].tolist())
    general, removed_general = np.zeros(0, dtype=np.int64), 0
    if config.general_fraction > 0:
        wanted = round(config.general_fraction * len(pair))
        kept_hashes = {sha for sha, code in code_of.items() if code in kept_codes}
        general, removed_general = _general_sample(
            np.asarray(corpus_ids, dtype=np.int64), pair, kept_hashes, wanted, config,
            pair_sha256, pair_vectors, eval_vectors, eval_sha256)
    stats = RetrievalStats(
        n_queries=len(query_vectors), n_hits=n_hits, n_candidates=n_candidates,
        removed_duplicates=removed_dup, removed_exact_contamination=int(exact.sum()),
        removed_near_contamination=int(near.sum()),
        removed_over_class_cap=int((~capped).sum()),
        count_per_class=tuple(np.bincount(cls, minlength=n_classes).tolist()),
        general_pairs=len(general), removed_from_general=removed_general,
        ann_recall=ann_recall)
    LOG.info("retrieved %d pairs for %d classes from %d queries (%s), %d general pairs",
             len(pair), n_classes, len(query_vectors), config.mode, len(general))
    return RetrievalResult(
        class_index=np.concatenate([cls, np.full(len(general), GENERAL_CLASS, dtype=np.int64)]),
        pair_id=np.concatenate([pair, general]),
        score=np.concatenate([score, np.zeros(len(general))]).astype(np.float32),
        rank=np.concatenate([rank, np.arange(len(general))]),
        mode=config.mode, stats=stats)


def _general_sample(corpus_ids: np.ndarray, taken: np.ndarray, taken_hashes: set[str], wanted: int,
                    config: RetrievalConfig, pair_sha256: HashSource,
                    pair_vectors: Callable[[np.ndarray], np.ndarray], eval_vectors: np.ndarray,
                    eval_sha256: set[str]) -> tuple[np.ndarray, int]:
    """Up to ``wanted`` pair ids drawn uniformly (seeded) from the corpus minus ``taken``,
    skipping evaluation images (exact or near) and, with image-hash de-duplication, images
    already kept (``taken_hashes``: those of ``taken``). Returns (ids in draw order, number
    skipped)."""
    pool = np.setdiff1d(corpus_ids, taken)
    order = np.random.default_rng(GENERAL_SEED).permutation(len(pool))
    seen = set(taken_hashes) if config.dedupe_by_image_hash else set()
    chosen: list[int] = []
    skipped = 0
    batch = max(2 * wanted, 1024)  # a little more than needed: some draws are skipped
    for start in range(0, len(pool), batch):
        if len(chosen) >= wanted:
            break
        ids = pool[order[start:start + batch]]
        near = _near_eval_mask(ids, pair_vectors, eval_vectors, config.near_duplicate_threshold)
        for pair_id, sha, is_near in zip(ids, _hashes(ids, pair_sha256), near, strict=True):
            if len(chosen) >= wanted:
                break
            if is_near or sha in eval_sha256 or sha in seen:
                skipped += 1
                continue
            if config.dedupe_by_image_hash:
                seen.add(sha)
            chosen.append(int(pair_id))
    return np.array(chosen, dtype=np.int64), skipped
