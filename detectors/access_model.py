"""The trained access model: training from history, saving, loading, and a cold-start default.

An :class:`AccessModel` is a fitted :class:`AccessScorer` inside :class:`Thresholds`, plus what
is needed to trust it later: its version, feature list, training size and creation time.
``save(path)`` writes the scorer with joblib to ``path`` and a JSON sidecar next to it
(``<path>.json``); ``load(path)`` reads the sidecar first and refuses a model whose feature
list differs from this library's, or whose file does not match the sidecar's checksum.

Loading unpickles Python objects: load only model files your own training wrote.
"""

import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from clearance.detectors._habits import event_facts
from clearance.detectors.errors import DetectorError, ModelMismatchError
from clearance.detectors.profiles import ACCESS_FEATURES
from clearance.detectors.score import FeatureRows, Score, ScoredBatch, Thresholds, as_matrix
from clearance.detectors.scorers import AccessScorer
from clearance.detectors.store import ProfileStore
from clearance.detectors.workload import generate_workload

__all__ = ["AccessModel", "cold_start_model", "train_access_model"]

_SIDECAR_FORMAT = 1


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


class AccessModel:
    """A fitted access scorer with thresholds and metadata.

    Parameters
    ----------
    scorer
        A fitted scorer wrapped in :class:`Thresholds`.
    training_size
        Number of feature vectors the scorer was fitted on.
    kind
        ``"trained"`` (from history) or ``"cold-start"`` (from the synthetic workload).
    created_at
        ISO 8601 UTC time of training; now when None.
    model_version
        Identifier; derived from ``created_at`` when None.
    feature_names
        The features the scorer expects, in order.
    """

    def __init__(
        self,
        scorer: Thresholds,
        training_size: int,
        kind: str = "trained",
        created_at: str | None = None,
        model_version: str | None = None,
        feature_names: tuple[str, ...] = ACCESS_FEATURES,
    ) -> None:
        self.scorer = scorer
        self.training_size = training_size
        self.kind = kind
        self.created_at = created_at or datetime.now(UTC).isoformat(timespec="seconds")
        stamp = self.created_at.replace("-", "").replace(":", "").replace("+0000", "Z")
        self.model_version = model_version or f"access-{kind}-{stamp}"
        self.feature_names = tuple(feature_names)

    def __repr__(self) -> str:
        return (
            f"AccessModel(model_version={self.model_version!r}, kind={self.kind!r}, "
            f"training_size={self.training_size})"
        )

    def score_samples(self, X: FeatureRows) -> np.ndarray:
        """Scores in [0, 1] of a batch of feature vectors."""
        return self.scorer.score_samples(as_matrix(X, self.feature_names))

    def score_batch(
        self, X: FeatureRows, events: Sequence[Mapping[str, Any] | None] | None = None
    ) -> list[Score]:
        """Labelled, explained scores of a batch (``events`` aligned with the rows)."""
        return self.scorer.score_batch(as_matrix(X, self.feature_names), events)

    def score_columns(
        self, X: FeatureRows, events: Sequence[Mapping[str, Any] | None] | None = None
    ) -> ScoredBatch:
        """:meth:`score_batch` as columns (values, labels, explanations), for a caller that
        has no use for a :class:`Score` per row."""
        return self.scorer.score_columns(as_matrix(X, self.feature_names), events)

    def score_one(self, x: Mapping[str, float], event: Mapping[str, Any] | None = None) -> Score:
        """Labelled, explained score of one feature dict."""
        return self.scorer.score_one(x, event)

    def score_events(self, events: Sequence[Mapping[str, Any]], store: ProfileStore) -> list[Score]:
        """Score a batch of events in order, learning from each after taking its features.

        Parameters
        ----------
        events
            ActionEvent dicts in occurred_at order.
        store
            Profiles to read and update.

        Returns
        -------
        list of Score
            One per event, labelled by the thresholds and naming the event's resource, action
            and source in the explanation.
        """
        matrix = store.replay_events(events).matrix
        if matrix.shape[0] == 0:
            return []
        return self.score_batch(matrix, list(events))

    def save(self, path: str | Path) -> Path:
        """Write the scorer to ``path`` and the JSON sidecar to ``<path>.json``.

        Returns
        -------
        pathlib.Path
            The sidecar's path.
        """
        target = Path(path)
        buffer = io.BytesIO()
        joblib.dump(self.scorer, buffer)
        payload = buffer.getvalue()
        target.write_bytes(payload)
        sidecar = {
            "format": _SIDECAR_FORMAT,
            "model_version": self.model_version,
            "kind": self.kind,
            "features": list(self.feature_names),
            "training_size": self.training_size,
            "created_at": self.created_at,
            "sklearn_version": sklearn.__version__,
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        side = _sidecar_path(target)
        side.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        return side

    @classmethod
    def load(
        cls, path: str | Path, feature_names: Sequence[str] = ACCESS_FEATURES
    ) -> "AccessModel":
        """Read a model written by :meth:`save`, after checking its sidecar.

        Parameters
        ----------
        path
            The model file (its sidecar is ``<path>.json``).
        feature_names
            Features this code computes; a model trained on another list is refused.

        Returns
        -------
        AccessModel
            The model as saved.
        """
        target = Path(path)
        side = _sidecar_path(target)
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelMismatchError(
                f"{target}: sidecar {side.name} is missing, so the model cannot be checked. "
                "Fix: save models with AccessModel.save(), which writes both files."
            ) from None
        except json.JSONDecodeError as error:
            raise ModelMismatchError(
                f"{side}:{error.lineno}: sidecar is not valid JSON ({error.msg}). Fix: restore "
                "it from the training output or retrain."
            ) from None
        if meta.get("format") != _SIDECAR_FORMAT:
            raise ModelMismatchError(
                f"{side}: sidecar format {meta.get('format')!r} is not {_SIDECAR_FORMAT}. "
                "Fix: retrain the access model with this version."
            )
        expected, found = list(feature_names), list(meta.get("features") or [])
        if found != expected:
            missing = [f for f in expected if f not in found]
            extra = [f for f in found if f not in expected]
            detail = f"missing {missing}, unexpected {extra}" if missing or extra else "order"
            raise ModelMismatchError(
                f"{target}: model {meta.get('model_version')!r} was trained on features "
                f"{found}, this code computes {expected} ({detail} differs). Fix: retrain with "
                "train_access_model() on history, or run the library version that trained it."
            )
        saved_with = str(meta.get("sklearn_version", "?"))
        if saved_with.split(".")[:2] != sklearn.__version__.split(".")[:2]:
            raise ModelMismatchError(
                f"{target}: model {meta.get('model_version')!r} was saved with scikit-learn "
                f"{saved_with}, this environment has {sklearn.__version__}; forests do not "
                "unpickle reliably across minor versions. Fix: retrain with "
                "train_access_model() in this environment."
            )
        if not target.exists():
            raise ModelMismatchError(f"{target}: model file is missing next to its sidecar.")
        payload = target.read_bytes()
        if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
            raise ModelMismatchError(
                f"{target}: file does not match the sha256 in {side.name}. Fix: copy the model "
                "and its sidecar together, from the same save."
            )
        scorer = joblib.load(io.BytesIO(payload))
        if not isinstance(scorer, Thresholds):
            raise ModelMismatchError(
                f"{target}: holds a {type(scorer).__name__}, not a Thresholds-wrapped scorer."
            )
        return cls(
            scorer,
            training_size=int(meta["training_size"]),
            kind=str(meta.get("kind", "trained")),
            created_at=str(meta["created_at"]),
            model_version=str(meta["model_version"]),
            feature_names=tuple(found),
        )


def train_access_model(
    events: Iterable[Mapping[str, Any]],
    *,
    store: ProfileStore | None = None,
    warmup_events: int = 20,
    n_estimators: int = 100,
    max_samples: int = 256,
    seed: int = 0,
    forest_weight: float = 0.5,
    weights: Mapping[str, float] | None = None,
    rule_floor: float = 0.95,
    unusual: float = 0.5,
    anomalous: float = 0.8,
    kind: str = "trained",
) -> AccessModel:
    """Replay history through profiles and fit the access scorer on the feature vectors.

    Parameters
    ----------
    events
        Historical ActionEvent dicts in occurred_at order, assumed mostly normal.
    store
        Profiles to replay into; pass one to keep the warmed-up profiles for scoring what
        follows the history. A fresh store is used when None.
    warmup_events
        A principal's first events only teach its profile: with an empty profile everything is
        first-seen, which is not what normal looks like later.
    n_estimators, max_samples, seed, forest_weight, weights, rule_floor
        Passed to :class:`AccessScorer`.
    unusual, anomalous
        Passed to :class:`Thresholds`.
    kind
        Recorded in the model's metadata.

    Returns
    -------
    AccessModel
        The fitted model.
    """
    if rule_floor < anomalous:
        raise DetectorError(
            f"train_access_model: rule_floor={rule_floor} is below anomalous={anomalous}, so a "
            "first access to a sensitive resource outside the peer group would not be labelled "
            "anomalous. Fix: keep rule_floor >= anomalous."
        )
    replay_store = store if store is not None else ProfileStore()
    rows: list[list[float]] = []
    for event in events:
        facts = event_facts(event)
        principal = replay_store.profile(facts.principal)
        peers = [replay_store.peer(g) for g in facts.groups]
        if principal.events >= warmup_events:
            rows.append(principal._feature_row(facts, peers))
        principal._observe(facts)
        for peer in peers:
            peer._observe(facts)
    if len(rows) < 50:
        raise DetectorError(
            f"train_access_model: only {len(rows)} events came after each principal's first "
            f"{warmup_events}; at least 50 are needed. Fix: train on more history, lower "
            "warmup_events, or use cold_start_model()."
        )
    scorer = Thresholds(
        AccessScorer(n_estimators, max_samples, seed, forest_weight, weights, rule_floor),
        unusual,
        anomalous,
    ).fit(np.array(rows, dtype=float))
    return AccessModel(scorer, training_size=len(rows), kind=kind)


def cold_start_model(seed: int = 0) -> AccessModel:
    """A default access model for when no history exists yet.

    The forest is fitted on a week of the seeded synthetic normal workload of
    :mod:`clearance.detectors.workload` (no incidents). The features are relative to each
    principal's own habits (first-seen, rarity, rate and volume against its baseline), so a
    forest fitted on synthetic principals is a reasonable prior for real ones; the explicit
    signals and the rule floor do not depend on training at all. Retrain on real history with
    :func:`train_access_model` as soon as a few weeks exist.

    Parameters
    ----------
    seed
        Seed of the synthetic workload and the forest.

    Returns
    -------
    AccessModel
        ``kind="cold-start"``.
    """
    workload = generate_workload(seed=seed, days=7, test_days=1, incidents=0)
    return train_access_model(workload.events, seed=seed, kind="cold-start")
