"""The compiled forest walk gives scikit-learn's path lengths, bit for bit."""

import os
import pickle

import numpy as np
import pytest

from clearance.detectors import ACCESS_FEATURES, ForestScorer, _native


@pytest.fixture
def kernel() -> object:
    if _native.FOREST_KERNEL is None:
        if os.environ.get("REQUIRE_COMPILED"):
            pytest.fail("the compiled forest walk is not built; `make test` requires it (gcc)")
        pytest.skip("the compiled forest walk is not built (no C compiler at install)")
    return _native.FOREST_KERNEL


def _python_walk(
    scorer: ForestScorer, matrix: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> np.ndarray:
    with monkeypatch.context() as patch:
        patch.setattr(_native, "FOREST_KERNEL", None)
        return scorer._raw_scores(matrix)


def _on_float32_splits(scorer: ForestScorer) -> np.ndarray:
    """Round every split threshold to a float32 value (in place), so that rows can sit exactly
    on a split: scikit-learn's thresholds fall between float32 values, where no row is."""
    splits = []
    for tree in scorer.forest_.estimators_:
        threshold = tree.tree_.threshold  # a writable view of the tree's nodes
        threshold[:] = threshold.astype(np.float32)
        splits.append(threshold[tree.tree_.children_left != -1])
    scorer.__dict__.pop("_flat", None)  # the flat copy of the trees, taken before the change
    return np.concatenate(splits)


def _hard_rows(scorer: ForestScorer, train: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of every kind: training rows, far outliers, and rows whose every value is a split
    threshold, where a walk that compared the other way round would take the other branch."""
    width = train.shape[1]
    on_splits = rng.choice(_on_float32_splits(scorer), size=(400, width))
    outliers = rng.normal(0.0, 50.0, size=(200, width))
    return np.vstack([train, outliers, on_splits])


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_compiled_walk_scores_as_the_python_walk_bit_for_bit(
    kernel: object,
    train_matrix: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    max_features: float,
) -> None:
    scorer = ForestScorer(n_estimators=60, max_features=max_features, seed=3).fit(train_matrix)
    rows = _hard_rows(scorer, train_matrix, np.random.default_rng(5))
    # Batches of every size around the walk's block of 16 rows, and one row alone.
    for size in (1, 15, 16, 17, 70, len(rows)):
        batch = rows[:size]
        assert np.array_equal(scorer._raw_scores(batch), _python_walk(scorer, batch, monkeypatch))
    # The rows on splits: each went the way scikit-learn sends a value equal to the threshold.
    on_splits = rows[-400:]
    np.testing.assert_allclose(
        scorer._raw_scores(on_splits), -scorer.forest_.score_samples(on_splits), rtol=1e-12
    )


def test_compiled_walk_matches_scikit_learn(kernel: object, train_matrix: np.ndarray) -> None:
    scorer = ForestScorer(n_estimators=40, seed=1).fit(train_matrix)
    rows = _hard_rows(scorer, train_matrix, np.random.default_rng(9))
    expected = -scorer.forest_.score_samples(rows)
    np.testing.assert_allclose(scorer._raw_scores(rows), expected, rtol=1e-12, atol=0)


def test_a_refitted_or_reloaded_scorer_walks_its_own_trees(
    kernel: object, train_matrix: np.ndarray
) -> None:
    scorer = ForestScorer(n_estimators=20, seed=0).fit(train_matrix)
    before = scorer._raw_scores(train_matrix[:50])
    assert "_flat" not in pickle.loads(pickle.dumps(scorer)).__dict__
    scorer.set_params(seed=1).fit(train_matrix)
    after = scorer._raw_scores(train_matrix[:50])
    fresh = ForestScorer(n_estimators=20, seed=1).fit(train_matrix)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, fresh._raw_scores(train_matrix[:50]))
    assert train_matrix.shape[1] == len(ACCESS_FEATURES)
