"""What every access scorer returns and accepts, and the thresholds wrapped around it.

Scorers carry no thresholds; :class:`Thresholds` wraps any scorer and turns values into the
labels normal / unusual / anomalous.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
from sklearn.base import BaseEstimator

from clearance.detectors.errors import DetectorError, DetectorInputError
from clearance.detectors.profiles import ACCESS_FEATURES

__all__ = [
    "Events",
    "FeatureRows",
    "Score",
    "ScoredBatch",
    "Scorer",
    "Thresholds",
    "as_matrix",
]

FeatureRows = np.ndarray | Sequence[Mapping[str, float]]
Events = Sequence[Mapping[str, Any] | None]


@dataclass(frozen=True)
class Score:
    """A score with what drove it.

    Attributes
    ----------
    value
        In [0, 1]; higher is more anomalous.
    label
        The scorer's name, or normal / unusual / anomalous once :class:`Thresholds` applies.
    explanation
        Short text naming the features behind the value.
    """

    value: float
    label: str
    explanation: str


class ScoredBatch(NamedTuple):
    """A batch's scores as columns: what ``score_batch`` says, without a Score per row.

    Attributes
    ----------
    values
        The scores, in [0, 1].
    labels
        One label per score (the scorer's name, or normal / unusual / anomalous once
        :class:`Thresholds` applies).
    explanations
        One short text per score naming what drove it.
    """

    values: np.ndarray
    labels: list[str]
    explanations: list[str]


@runtime_checkable
class Scorer(Protocol):
    """What every access scorer offers."""

    def fit(self, X: FeatureRows) -> "Scorer":
        """Learn from normal behaviour; return the scorer."""
        ...

    def score_samples(self, X: FeatureRows) -> np.ndarray:
        """Score a batch; higher is more anomalous, in [0, 1]."""
        ...

    def score_one(self, x: Mapping[str, float], event: Mapping[str, Any] | None = None) -> Score:
        """Score one feature dict, with an explanation."""
        ...

    def score_batch(self, X: FeatureRows, events: Events | None = None) -> list[Score]:
        """Score a batch, with an explanation per row."""
        ...


def as_matrix(X: FeatureRows, feature_names: Sequence[str] = ACCESS_FEATURES) -> np.ndarray:
    """Turn feature dicts or an array into a float matrix with ``feature_names`` columns.

    Parameters
    ----------
    X
        A 2-D array (columns in ``feature_names`` order) or a sequence of dicts keyed by name.
    feature_names
        Expected columns.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_rows, len(feature_names))``, dtype float64.
    """
    if isinstance(X, np.ndarray):
        matrix = np.asarray(X, dtype=float)
    else:
        rows = list(X)
        if rows and isinstance(rows[0], Mapping):
            try:
                matrix = np.array([[row[name] for name in feature_names] for row in rows], float)
            except KeyError as missing:
                raise DetectorInputError(
                    f"a feature dict lacks {missing}. Fix: compute features with "
                    "PrincipalProfile.features or ProfileStore.features."
                ) from None
        else:
            matrix = np.asarray(rows, dtype=float)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, len(feature_names))
    if matrix.ndim != 2 or matrix.shape[1] != len(feature_names):
        raise DetectorInputError(
            f"expected a matrix with {len(feature_names)} columns ({', '.join(feature_names)}), "
            f"got shape {matrix.shape}. Fix: build rows in ACCESS_FEATURES order."
        )
    if not np.all(np.isfinite(matrix)):
        raise DetectorInputError("feature matrix holds NaN or infinity. Fix: check the features.")
    return matrix


class Thresholds(BaseEstimator):  # type: ignore[misc]
    """Labels around any scorer: normal below ``unusual``, unusual below ``anomalous``, else
    anomalous.

    Parameters
    ----------
    scorer
        The wrapped scorer; ``fit`` and ``score_samples`` pass through.
    unusual, anomalous
        Thresholds on the score.
    """

    def __init__(self, scorer: Any, unusual: float = 0.5, anomalous: float = 0.8) -> None:
        self.scorer = scorer
        self.unusual = unusual
        self.anomalous = anomalous

    def label(self, value: float) -> str:
        """Label of one value."""
        if not 0.0 <= self.unusual <= self.anomalous <= 1.0:
            raise DetectorError(
                f"thresholds unusual={self.unusual} anomalous={self.anomalous} must satisfy "
                "0 <= unusual <= anomalous <= 1. Fix: order them."
            )
        if value >= self.anomalous:
            return "anomalous"
        if value >= self.unusual:
            return "unusual"
        return "normal"

    def fit(self, X: FeatureRows) -> "Thresholds":
        """Fit the wrapped scorer."""
        self.scorer.fit(X)
        return self

    def score_samples(self, X: FeatureRows) -> np.ndarray:
        """The wrapped scorer's values."""
        return np.asarray(self.scorer.score_samples(X), dtype=float)

    def labels(self, values: np.ndarray) -> list[str]:
        """Labels of a batch of values."""
        floats = np.asarray(values, dtype=float).tolist()
        if floats:
            self.label(0.0)  # checks the thresholds once
        unusual, anomalous = self.unusual, self.anomalous
        return [
            "anomalous" if v >= anomalous else "unusual" if v >= unusual else "normal"
            for v in floats
        ]

    def score_columns(self, X: FeatureRows, events: Events | None = None) -> ScoredBatch:
        """The wrapped scorer's scores, labelled, as columns (the batch hot path: no
        :class:`Score` per row when the scorer offers ``score_columns`` too)."""
        if hasattr(self.scorer, "score_columns"):
            values, _, explanations = self.scorer.score_columns(X, events)
        else:
            scores = self.scorer.score_batch(X, events)
            values = np.array([s.value for s in scores], dtype=float)
            explanations = [s.explanation for s in scores]
        return ScoredBatch(values, self.labels(values), explanations)

    def score_batch(self, X: FeatureRows, events: Events | None = None) -> list[Score]:
        """The wrapped scorer's scores, labelled."""
        values, labels, explanations = self.score_columns(X, events)
        return [
            Score(value, label, text)
            for value, label, text in zip(values.tolist(), labels, explanations, strict=True)
        ]

    def score_one(self, x: Mapping[str, float], event: Mapping[str, Any] | None = None) -> Score:
        """Score one feature dict, labelled."""
        return self.score_batch([x], [event])[0]
