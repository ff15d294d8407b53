"""Access scorers: feature vectors in, anomaly scores in [0, 1] out (higher = more anomalous).

Every scorer follows the scikit-learn conventions: its parameters are exactly its constructor
arguments (so ``sklearn.base.clone``, ``repr`` and pickling work), randomness goes through
``seed``, ``fit(X)`` returns the scorer, ``score_samples(X)`` scores a batch and
``score_one(x)`` returns a :class:`Score` with an explanation. ``X`` is either a 2-D array whose
columns follow :data:`ACCESS_FEATURES` or a sequence of feature dicts.

Scorers carry no thresholds: wrap them in :class:`clearance.detectors.score.Thresholds`.
"""

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest

from clearance.detectors import _native
from clearance.detectors.errors import DetectorError
from clearance.detectors.profiles import ACCESS_FEATURES
from clearance.detectors.score import Events, FeatureRows, Score, ScoredBatch, as_matrix
from clearance.detectors.signals import (
    DEFAULT_WEIGHTS,
    FIXED_PHRASES,
    MIN_CONTRIBUTION,
    RULE_FEATURE,
    SIGNALS,
    apply_rule_floor,
    describe_ranked,
    signal_strengths,
)

__all__ = ["AccessScorer", "ForestScorer", "SignalScorer"]


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """Average depth of an unsuccessful search in a binary search tree of ``n`` items (the
    isolation forest's normaliser): ``2 H(n - 1) - 2 (n - 1) / n``, 0 for n <= 1, 1 for 2."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    two = n == 2
    more = n > 2
    m = n[more]
    out[two] = 1.0
    out[more] = 2.0 * (np.log(m - 1.0) + np.euler_gamma) - 2.0 * (m - 1.0) / m
    return out


def _leaf_depths(tree: Any) -> np.ndarray:
    """Per node of a fitted isolation tree: the path length a sample ending there gets
    (node depth plus the average path length of the samples left in it)."""
    structure = tree.tree_
    left, right = structure.children_left, structure.children_right
    depth = np.zeros(structure.node_count)
    for node in range(structure.node_count):  # parents come before their children
        if left[node] != -1:
            depth[left[node]] = depth[right[node]] = depth[node] + 1.0
    return np.asarray(depth + _average_path_length(structure.n_node_samples), dtype=float)


class _FlatForest(NamedTuple):
    """A fitted forest's trees in flat arrays, for the compiled walk
    (``detectors/_forest_kernel.pyx`` says what each array holds)."""

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    children: np.ndarray
    length: np.ndarray
    depth: int


def _flatten(forest: IsolationForest, leaf_depths: list[np.ndarray], width: int) -> _FlatForest:
    roots, features, thresholds, children, lengths = [], [], [], [], []
    offset = 0
    full = forest._max_features == width
    for tree, columns, length in zip(
        forest.estimators_, forest.estimators_features_, leaf_depths, strict=True
    ):
        structure = tree.tree_
        left = structure.children_left.astype(np.intp)
        right = structure.children_right.astype(np.intp)
        leaf = left == -1
        nodes = np.arange(structure.node_count, dtype=np.intp)
        # The tree's own column numbers, as the matrix's (scikit-learn fits a tree on the
        # drawn columns only when it draws fewer than all).
        local = np.where(leaf, 0, structure.feature).astype(np.intp)
        feature = local if full else np.asarray(columns, dtype=np.intp)[local]
        pair = np.empty(2 * structure.node_count, dtype=np.intp)
        pair[0::2] = np.where(leaf, nodes, left) + offset
        pair[1::2] = np.where(leaf, nodes, right) + offset
        roots.append(offset)
        features.append(np.where(leaf, 0, feature))
        thresholds.append(structure.threshold.astype(np.float64))
        children.append(pair)
        lengths.append(length)
        offset += structure.node_count
    return _FlatForest(
        np.asarray(roots, dtype=np.intp),
        np.concatenate(features),
        np.concatenate(thresholds),
        np.concatenate(children),
        np.concatenate(lengths),
        max(int(tree.tree_.max_depth) for tree in forest.estimators_),
    )


class ForestScorer(BaseEstimator):  # type: ignore[misc]
    """Isolation forest over the features, calibrated on its training data.

    The forest's anomaly score ``s`` (0.5 is average, near 1 is isolated at once) becomes
    ``1 - 2 ** (-(s - median) / (q999 - median))``: 0 up to the training median, 0.5 at the
    training 99.9th percentile, approaching 1 beyond.

    Parameters
    ----------
    n_estimators
        Number of trees.
    max_samples
        Rows drawn per tree (256 is the size the method was designed around).
    max_features
        Share of features drawn per tree.
    seed
        Seed of the forest.
    feature_names
        Names of the columns, for explanations.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int = 256,
        max_features: float = 1.0,
        seed: int = 0,
        feature_names: tuple[str, ...] = ACCESS_FEATURES,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.seed = seed
        self.feature_names = feature_names

    def fit(self, X: FeatureRows) -> "ForestScorer":
        """Fit the forest and its calibration on normal feature vectors."""
        matrix = as_matrix(X, self.feature_names)
        if matrix.shape[0] < 2:
            raise DetectorError(
                f"ForestScorer.fit got {matrix.shape[0]} rows; it needs at least 2 (hundreds "
                "in practice). Fix: train on more history or use cold_start_model()."
            )
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, matrix.shape[0]),
            max_features=self.max_features,
            random_state=self.seed,
        ).fit(matrix)
        self.__dict__.pop("_flat", None)
        self.leaf_depths_ = [_leaf_depths(tree) for tree in self.forest_.estimators_]
        raw = self._raw_scores(matrix)
        self.center_ = float(np.median(raw))
        self.spread_ = max(float(np.quantile(raw, 0.999)) - self.center_, 1e-6)
        self.feature_mean_ = matrix.mean(axis=0)
        self.feature_std_ = np.maximum(matrix.std(axis=0), 0.05)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "forest_"):
            raise DetectorError(
                f"{type(self).__name__} is not fitted. Fix: call fit(X) first, or use "
                "train_access_model() / cold_start_model()."
            )

    def __getstate__(self) -> dict[str, Any]:
        # The flat copy of the trees is rebuilt on first use, not saved with the model.
        state = dict(super().__getstate__())
        state.pop("_flat", None)
        return state

    def _path_lengths(self, X32: np.ndarray) -> np.ndarray:
        """Each row's path lengths summed over the trees, in the forest's order."""
        forest = self.forest_
        if not hasattr(self, "leaf_depths_"):
            self.leaf_depths_ = [_leaf_depths(tree) for tree in forest.estimators_]
        depths = np.zeros(X32.shape[0])
        kernel = _native.FOREST_KERNEL
        if kernel is not None:
            flat = getattr(self, "_flat", None)
            if flat is None:
                flat = self._flat = _flatten(forest, self.leaf_depths_, X32.shape[1])
            kernel.add_path_lengths(
                X32, flat.roots, flat.feature, flat.threshold, flat.children, flat.length,
                flat.depth, depths,
            )  # fmt: skip
            return depths
        # scikit-learn's walk, one call per tree for the whole batch.
        full = forest._max_features == X32.shape[1]
        for tree, features, leaf_depth in zip(
            forest.estimators_, forest.estimators_features_, self.leaf_depths_, strict=True
        ):
            rows = X32 if full else np.ascontiguousarray(X32[:, features])
            depths += leaf_depth[tree.tree_.apply(rows)]
        return depths

    def _raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        """The forest's anomaly scores, as ``-IsolationForest.score_samples`` computes them,
        walking every tree for the whole batch at once (compiled, see
        ``detectors/_forest_kernel.pyx``; else one scikit-learn call per tree) rather than
        through scikit-learn's per-tree dispatch."""
        forest = self.forest_
        X32 = np.ascontiguousarray(matrix, dtype=np.float32)
        depths = self._path_lengths(X32)
        normaliser = (
            len(forest.estimators_) * _average_path_length(np.array([forest._max_samples]))[0]
        )
        return np.asarray(np.exp2(-depths / normaliser), dtype=float)

    def score_samples(self, X: FeatureRows) -> np.ndarray:
        """Calibrated forest scores in [0, 1) for a batch."""
        self._check_fitted()
        matrix = as_matrix(X, self.feature_names)
        if matrix.shape[0] == 0:
            return np.zeros(0)
        raw = self._raw_scores(matrix)
        excess = np.maximum(raw - self.center_, 0.0) / self.spread_
        return np.asarray(1.0 - np.exp2(-excess), dtype=float)

    def _explain(self, row: np.ndarray) -> str:
        z = (row - self.feature_mean_) / self.feature_std_
        top = [i for i in np.argsort(-np.abs(z))[:3] if abs(z[i]) >= 3.0]
        if not top:
            return "close to the training data"
        return "; ".join(
            f"{self.feature_names[i]}={row[i]:.2f} (usually {self.feature_mean_[i]:.2f})"
            for i in top
        )

    def score_batch(self, X: FeatureRows, events: Events | None = None) -> list[Score]:
        """Score a batch with an explanation per row (``events`` is unused here)."""
        matrix = as_matrix(X, self.feature_names)
        values = self.score_samples(matrix)
        return [
            Score(float(v), "forest", self._explain(row))
            for v, row in zip(values, matrix, strict=True)
        ]

    def score_one(self, x: Mapping[str, float], event: Mapping[str, Any] | None = None) -> Score:
        """Score one feature dict."""
        return self.score_batch([x])[0]


class SignalScorer(BaseEstimator):  # type: ignore[misc]
    """Explicit signals only (no learning): a noisy-OR of weighted signals plus the rule floor.

    Needs no history, so it is what scores before any model is trained. See
    :mod:`clearance.detectors.signals` for the signals and default weights.

    Parameters
    ----------
    weights
        Signal name to weight in [0, 1]; None uses ``DEFAULT_WEIGHTS``; names left out weigh 0.
    rule_floor
        Lowest score of an event with ``first_sensitive_outside_peers`` set.
    """

    def __init__(
        self, weights: Mapping[str, float] | None = None, rule_floor: float = 0.95
    ) -> None:
        self.weights = weights
        self.rule_floor = rule_floor

    def _weights(self) -> np.ndarray:
        weights = DEFAULT_WEIGHTS if self.weights is None else self.weights
        unknown = set(weights) - {s.name for s in SIGNALS}
        if unknown:
            raise DetectorError(
                f"unknown signal weights {sorted(unknown)}; signals are "
                f"{[s.name for s in SIGNALS]}. Fix: correct the names."
            )
        return np.array([float(weights.get(s.name, 0.0)) for s in SIGNALS])

    def fit(self, X: FeatureRows) -> "SignalScorer":
        """Check the features and weights; nothing is learned."""
        as_matrix(X)
        self._weights()
        return self

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Weighted strength of each signal per row, shape ``(n_rows, len(SIGNALS))``."""
        return signal_strengths(X) * self._weights()

    def _combine(self, X: np.ndarray, parts: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
        keep = np.prod(1.0 - parts, axis=1)
        if extra is not None:
            keep = keep * (1.0 - extra)
        return apply_rule_floor(1.0 - keep, X, self.rule_floor)

    def score_samples(self, X: FeatureRows) -> np.ndarray:
        """Scores in [0, 1] for a batch."""
        matrix = as_matrix(X)
        return self._combine(matrix, self.contributions(matrix), None)

    def score_columns(self, X: FeatureRows, events: Events | None = None) -> ScoredBatch:
        """:meth:`score_batch` as columns."""
        matrix = as_matrix(X)
        parts = self.contributions(matrix)
        values = self._combine(matrix, parts, None)
        texts = _explanations(matrix, parts, None, events)
        return ScoredBatch(values, ["signals"] * len(texts), texts)

    def score_batch(self, X: FeatureRows, events: Events | None = None) -> list[Score]:
        """Score a batch; ``events`` (aligned with the rows) let explanations name things."""
        return _as_scores(self.score_columns(X, events))

    def score_one(self, x: Mapping[str, float], event: Mapping[str, Any] | None = None) -> Score:
        """Score one feature dict."""
        return self.score_batch([x], [event])[0]


def _as_scores(batch: ScoredBatch) -> list[Score]:
    return [
        Score(value, label, text)
        for value, label, text in zip(
            batch.values.tolist(), batch.labels, batch.explanations, strict=True
        )
    ]


def _explanations(
    matrix: np.ndarray,
    parts: np.ndarray,
    forest: np.ndarray | None,
    events: Events | None,
    limit: int = 3,
) -> list[str]:
    """:func:`describe` of every row, with what can be done for the whole batch done so."""
    names = [s.name for s in SIGNALS]
    if forest is not None:
        parts = np.column_stack([parts, forest])
        names.append("forest")
    # describe() names at most `limit` contributions, strongest first, so only the strongest
    # few per row are handed over, found and ranked for the whole batch at once (a stable
    # sort on the negated values ranks them as describe() does).
    top = np.argsort(-parts, axis=1, kind="stable")[:, :limit]
    top_values = np.take_along_axis(parts, top, axis=1)
    rule = matrix[:, ACCESS_FEATURES.index(RULE_FEATURE)] > 0.5
    # describe() names the ranked contributions up to the first too small (or not finite).
    named = np.cumprod((top_values >= MIN_CONTRIBUTION) & np.isfinite(top_values), axis=1)
    named = named.astype(bool)
    # Many rows name nothing, or only signals whose phrase is fixed and the forest (whose
    # phrase prints its value): such a row reads like every other that names the same signals
    # in the same order and prints the forest's value the same, so its text is built once.
    fixed = np.array([name in FIXED_PHRASES or name == "forest" for name in names])
    shared = ~rule & np.all(fixed[top] | ~named, axis=1)
    codes = np.where(named, top + 1, 0) @ ((len(names) + 1) ** np.arange(top.shape[1]))
    if forest is None:
        shows_forest = np.zeros(len(top), dtype=bool)
    else:
        shows_forest = np.any((top == len(names) - 1) & named, axis=1)
    # Flat lists rather than a list per row: a batch's worth of small lists that live until
    # the batch is explained would each be traversed by the garbage collector.
    width, count = matrix.shape[1], top.shape[1]
    top_names = np.array(names, dtype=object)[top].ravel().tolist()
    top_flat = top_values.ravel().tolist()
    flat = matrix.ravel().tolist()
    forest_values = forest.tolist() if forest is not None else []
    built: dict[Any, str] = {}
    texts = []
    for i, (is_rule, is_shared, code, with_forest) in enumerate(
        zip(rule.tolist(), shared.tolist(), codes.tolist(), shows_forest.tolist(), strict=True)
    ):
        key = None
        if is_shared:
            key = (code, f"{forest_values[i]:.2f}") if with_forest else code
            text = built.get(key)
            if text is not None:
                texts.append(text)
                continue
        start, end = i * count, (i + 1) * count
        text = describe_ranked(
            _Row(flat, i * width),
            is_rule,
            top_names[start:end],
            top_flat[start:end],
            events[i] if events is not None else None,
        )
        if key is not None:
            built[key] = text
        texts.append(text)
    return texts


class _Row(Mapping[str, float]):
    """One row of a flattened feature matrix, read by name (phrases read one or two
    features, so building a dict of all of them per row costs more than they need)."""

    __slots__ = ("_flat", "_start")

    def __init__(self, flat: list[float], start: int) -> None:
        self._flat, self._start = flat, start

    def __getitem__(self, name: str) -> float:
        return self._flat[self._start + _COLUMNS[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(ACCESS_FEATURES)

    def __len__(self) -> int:
        return len(ACCESS_FEATURES)


_COLUMNS = {name: i for i, name in enumerate(ACCESS_FEATURES)}


class AccessScorer(BaseEstimator):  # type: ignore[misc]
    """Isolation forest and explicit signals in one score.

    ``score = 1 - (1 - forest_weight * forest) * prod(1 - weight * signal)``, then the rule
    floor. The forest catches combinations no single signal names; the signals keep the score
    explainable and working from the first event.

    Parameters
    ----------
    n_estimators, max_samples, seed
        Passed to the :class:`ForestScorer`.
    forest_weight
        Largest contribution of the forest.
    weights
        Signal weights (None: ``DEFAULT_WEIGHTS``).
    rule_floor
        Lowest score of an event with ``first_sensitive_outside_peers`` set.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int = 256,
        seed: int = 0,
        forest_weight: float = 0.5,
        weights: Mapping[str, float] | None = None,
        rule_floor: float = 0.95,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed
        self.forest_weight = forest_weight
        self.weights = weights
        self.rule_floor = rule_floor

    def fit(self, X: FeatureRows) -> "AccessScorer":
        """Fit the forest on normal feature vectors."""
        self.signals_ = SignalScorer(self.weights, self.rule_floor).fit(X)
        self.forest_ = ForestScorer(self.n_estimators, self.max_samples, seed=self.seed).fit(X)
        return self

    def _parts(self, X: FeatureRows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not hasattr(self, "forest_"):
            raise DetectorError("AccessScorer is not fitted. Fix: call fit(X) first.")
        matrix = as_matrix(X)
        forest = self.forest_weight * self.forest_.score_samples(matrix)
        return matrix, self.signals_.contributions(matrix), forest

    def score_samples(self, X: FeatureRows) -> np.ndarray:
        """Scores in [0, 1] for a batch."""
        matrix, parts, forest = self._parts(X)
        return self.signals_._combine(matrix, parts, forest)

    def score_columns(self, X: FeatureRows, events: Events | None = None) -> ScoredBatch:
        """:meth:`score_batch` as columns."""
        matrix, parts, forest = self._parts(X)
        values = self.signals_._combine(matrix, parts, forest)
        texts = _explanations(matrix, parts, forest, events)
        return ScoredBatch(values, ["access"] * len(texts), texts)

    def score_batch(self, X: FeatureRows, events: Events | None = None) -> list[Score]:
        """Score a batch; ``events`` (aligned with the rows) let explanations name things."""
        return _as_scores(self.score_columns(X, events))

    def score_one(self, x: Mapping[str, float], event: Mapping[str, Any] | None = None) -> Score:
        """Score one feature dict."""
        return self.score_batch([x], [event])[0]
