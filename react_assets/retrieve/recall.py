"""The index's recall on the queries retrieval actually sends, checked against exact search.

The index is tuned at build time on noisy copies of corpus rows; a domain's queries (class-name x
template text embeddings, or example images) can sit elsewhere in the space. After the ANN search
of a domain's queries, :func:`verify_recall` computes their exact top-k over the same corpus
vectors (streamed shard by shard), measures recall@k of the ANN hits and, below the index's recall
target, doubles the search parameter (nprobe up to nlist, efSearch up to its cap) until the target
is met or the cap reached. A Flat index is exact: no exact pass, recall 1.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from react_assets.index import tune
from react_assets.index.tune import SearchParameter, Shard

LOG = logging.getLogger(__name__)
DEFAULT_MAX_QUERIES = 2048  # ~5 s of exact search over 200k x 512 on 2 cores


@dataclass(frozen=True)
class AnnRecall:
    """What the recall check found: stored with the retrieval set's stats.

    ``check`` is ``exact-search`` (measured against exact search), ``flat-index`` (the index is
    exact, recall 1 without a pass), ``corpus-mismatch`` (the shards do not hold the index's
    vectors, not measured) or ``not-run`` (no check was asked for).
    """

    check: str = "not-run"
    recall: float | None = None
    initial_recall: float | None = None  # before any raise
    target: float | None = None
    k: int = 0
    n_queries: int = 0  # queries in the exact pass
    param: str | None = None  # nprobe or efSearch
    initial_value: int | None = None
    value: int | None = None  # the value the final hits were searched with
    raised: bool = False
    exact_seconds: float = 0.0

    @property
    def target_met(self) -> bool | None:
        """Whether the recall reached the target (None when not measured)."""
        if self.recall is None or self.target is None:
            return None
        return self.recall >= self.target

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields, with ``target_met``."""
        return {**dataclasses.asdict(self), "target_met": self.target_met}


@dataclass(frozen=True, eq=False)
class RecallCheck:
    """What the check needs: the corpus shards (pair ids, vectors) the index was built over and
    the index's recall target; at most ``max_queries`` queries, evenly spread, are checked."""

    shards: Sequence[Shard]
    recall_target: float
    max_queries: int = DEFAULT_MAX_QUERIES

    def __post_init__(self) -> None:
        if not 0.0 < self.recall_target <= 1.0:
            raise ValueError(f"RecallCheck.recall_target must be in (0, 1], "
                             f"got {self.recall_target}")
        if self.max_queries < 1:
            raise ValueError(f"RecallCheck.max_queries must be >= 1, got {self.max_queries}")


def checked_rows(n_queries: int, max_queries: int) -> np.ndarray:
    """Row positions of the queries to check: all, or ``max_queries`` evenly spaced (queries
    come grouped by class, so every class keeps its share)."""
    if n_queries <= max_queries:
        return np.arange(n_queries)
    return np.unique(np.linspace(0, n_queries - 1, max_queries).round().astype(np.int64))


def _recall(index: faiss.Index, queries: np.ndarray, exact_ids: np.ndarray) -> float:
    """recall@k of ``index`` on ``queries`` against their exact top-k ids."""
    _, found = index.search(queries, exact_ids.shape[1])
    return tune.recall_at_k(found, exact_ids)


def _raise_until_met(index: faiss.Index, parameter: SearchParameter, queries: np.ndarray,
                     exact_ids: np.ndarray, recall: float, target: float) -> tuple[int, float]:
    """Double the search parameter on ``index`` until recall meets ``target`` or the parameter
    its cap; return the final value and its recall."""
    value = parameter.value
    while recall < target and value < parameter.cap:
        value = min(2 * max(value, 1), parameter.cap)
        tune.apply_search_params(index, {parameter.name: value})
        recall = _recall(index, queries, exact_ids)
        LOG.info("retrieval queries: %s=%d gives recall@%d=%.4f (target %.3f)",
                 parameter.name, value, exact_ids.shape[1], recall, target)
    return value, recall


def verify_recall(index: faiss.Index, query_vectors: np.ndarray, ann_ids: np.ndarray,
                  check: RecallCheck) -> AnnRecall:
    """Recall@k of ``ann_ids`` (the (Q, k) ANN hits of ``query_vectors``) against exact search
    over ``check.shards``, raising the index's search parameter in place when it falls short.

    k is the hits' k, at most the corpus size. When the result says ``raised``, the caller
    searches again: ``index`` now carries the raised value.
    """
    k = ann_ids.shape[1]
    if tune.is_exact_index(index):
        return AnnRecall(check="flat-index", recall=1.0, initial_recall=1.0,
                         target=check.recall_target, k=k)
    n_corpus = sum(len(ids) for ids, _ in check.shards)
    if n_corpus != index.ntotal:
        LOG.warning("recall not checked: the index holds %d vectors, its shards %d (rebuild the "
                    "index)", index.ntotal, n_corpus)
        return AnnRecall(check="corpus-mismatch", target=check.recall_target, k=k)
    k = min(k, n_corpus)
    rows = checked_rows(len(query_vectors), check.max_queries)
    queries = np.ascontiguousarray(query_vectors[rows], dtype=np.float32)
    start = time.perf_counter()
    _, exact_ids = tune.exact_search_shards(check.shards, queries, k)
    seconds = time.perf_counter() - start
    initial = tune.recall_at_k(ann_ids[rows, :k], exact_ids)
    parameter = tune.search_parameter(index, k)
    first = parameter.value if parameter else None
    value, recall = first, initial
    if parameter is not None and initial < check.recall_target:
        LOG.warning("retrieval queries: recall@%d=%.4f below the index's target %.3f at %s=%d; "
                    "raising %s", k, initial, check.recall_target, parameter.name,
                    parameter.value, parameter.name)
        value, recall = _raise_until_met(index, parameter, queries, exact_ids, initial,
                                         check.recall_target)
    done = AnnRecall(check="exact-search", recall=recall, initial_recall=initial,
                     target=check.recall_target, k=k, n_queries=len(rows),
                     param=parameter.name if parameter else None, initial_value=first,
                     value=value, raised=value != first, exact_seconds=round(seconds, 3))
    _log_outcome(done)
    return done


def _log_outcome(done: AnnRecall) -> None:
    """One line on what the check measured and did; a warning when the target stays missed."""
    where = f"{done.param}={done.value}" if done.param else "an index without search parameter"
    if done.target_met:
        LOG.info("retrieval queries: recall@%d=%.4f meets target %.3f (%s%s, %d queries checked "
                 "in %.1f s)", done.k, done.recall, done.target, where,
                 f", raised from {done.initial_value}" if done.raised else "", done.n_queries,
                 done.exact_seconds)
    else:
        LOG.warning("retrieval queries: recall@%d=%.4f misses target %.3f at %s, the most it "
                    "may search (%d queries checked)", done.k, done.recall, done.target, where,
                    done.n_queries)
