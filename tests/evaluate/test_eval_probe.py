"""The linear-probe protocol: separable toys are solved, shuffled labels stay at chance, shots
are drawn per class and per seed, deterministically, from the train split only."""

from __future__ import annotations

import numpy as np
import pytest

from react_assets.customize.linear_head import LinearHead
from react_assets.evaluate.probe import (
    LOGISTIC,
    TEXT_INIT,
    ProbeConfig,
    carve_validation,
    run_probes,
    sample_shots,
)

SMALL = ProbeConfig(shots=(5, 20), seeds=(0, 1), c_grid=(1.0, 100.0), max_iter=300)


def clusters(n_per_class: int, n_classes: int = 4, dim: int = 16, spread: float = 0.05,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return centres[labels] + spread * rng.normal(size=(len(labels), dim)), labels, centres


def test_a_linearly_separable_toy_is_solved_at_every_shot_count():
    train_x, train_y, _ = clusters(40, seed=0)
    test_x, test_y, _ = clusters(25, seed=0)
    test_x = test_x + 0.01  # other draws of the same clusters
    figures = run_probes(train_x, train_y, test_x, test_y, "accuracy", 4, SMALL,
                         heads=(LOGISTIC,))
    assert [f.setting for f in figures] == ["5-shot", "5-shot", "20-shot", "20-shot", "full"]
    assert all(f.value >= 0.99 for f in figures), [(f.setting, f.value) for f in figures]
    assert figures[-1].n_train == 160 and figures[0].n_train == 20


def test_shuffled_labels_stay_at_chance():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(800, 32))
    y = rng.permutation(np.repeat(np.arange(4), 200))
    figures = run_probes(x[:400], y[:400], x[400:], y[400:], "accuracy", 4,
                         ProbeConfig(shots=(20,), seeds=(0, 1, 2), c_grid=(0.1, 1.0)),
                         heads=(LOGISTIC,))
    mean = np.mean([f.value for f in figures])
    assert 0.17 < mean < 0.33, mean  # chance is 0.25 for 4 classes (400 test images)


def test_shots_are_per_class_per_seed_and_deterministic():
    labels = np.repeat(np.arange(3), [10, 30, 3])
    a, b, c = sample_shots(labels, 5, 0), sample_shots(labels, 5, 0), sample_shots(labels, 5, 1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.bincount(labels[a]).tolist() == [5, 5, 3]  # a class smaller than n: all of it
    assert len(set(a.tolist())) == len(a)
    # a class's draw does not depend on the others: dropping class 2 keeps classes 0 and 1
    assert np.array_equal(sample_shots(labels[:40], 5, 0), a[labels[a] < 2])


def test_shots_come_from_the_train_split_only():
    train_x, train_y, _ = clusters(30, seed=1)
    test_x, test_y, _ = clusters(10, seed=1)
    marker = 1000.0  # a test image in the training set would show as a huge feature
    test_x = test_x.copy()
    test_x[:, 0] += marker
    for n in (5, 20):
        rows = sample_shots(train_y, n, 2)
        assert rows.max() < len(train_x)
        assert np.abs(train_x[rows, 0]).max() < marker / 2


def test_the_validation_split_is_carved_from_the_training_images_per_class():
    labels = np.repeat(np.arange(3), [10, 5, 1])
    fit, val = carve_validation(np.arange(16), labels, 0.2, seed=0)
    assert set(fit) | set(val) == set(range(16)) and not set(fit) & set(val)
    assert np.bincount(labels[val], minlength=3).tolist() == [2, 1, 0]


def test_the_language_initialised_head_starts_from_the_text_classifier():
    train_x, train_y, centres = clusters(20, seed=2, spread=0.3)
    test_x, test_y, _ = clusters(20, seed=2, spread=0.3)
    text = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).T
    config = ProbeConfig(shots=(5,), seeds=(0,), full_shot=False)
    figures = run_probes(train_x, train_y, test_x, test_y, "accuracy", 4, config,
                         init=LinearHead.from_classifier(text))
    assert [f.head for f in figures] == [LOGISTIC, TEXT_INIT]
    assert figures[1].value >= 0.95


def test_probe_config_rejects_bad_grids():
    with pytest.raises(ValueError, match="c_grid"):
        ProbeConfig(c_grid=(0.0,))


def test_nested_single_threaded_sets_the_limits_once(monkeypatch):
    """The probes of a domain fit hundreds of heads inside one single_threaded(): each nested
    call must not set the BLAS limits again (~4 ms each), and the outer one restores torch."""
    import torch

    from react_assets.customize import linear_head

    calls = []
    real = linear_head.threadpool_limits
    monkeypatch.setattr(linear_head, "threadpool_limits",
                        lambda **kw: calls.append(kw) or real(**kw))
    before = torch.get_num_threads()
    with linear_head.single_threaded():
        for _ in range(3):
            with linear_head.single_threaded():
                assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    assert calls == [{"limits": 1}]
