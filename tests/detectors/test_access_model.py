import json
from pathlib import Path

import numpy as np
import pytest

from clearance.detectors import (
    ACCESS_FEATURES,
    AccessModel,
    DetectorError,
    ModelMismatchError,
    ProfileStore,
    Workload,
    cold_start_model,
    train_access_model,
)


@pytest.fixture(scope="module")
def trained(small_workload: Workload) -> tuple[AccessModel, ProfileStore]:
    history, _, _ = small_workload.split()
    store = ProfileStore()
    model = train_access_model(history, store=store, n_estimators=50, seed=2)
    return model, store


def test_training_replays_history_into_the_store(
    trained: tuple[AccessModel, ProfileStore], small_workload: Workload
) -> None:
    model, store = trained
    history, _, _ = small_workload.split()
    assert sum(p.events for p in store.principals.values()) == len(history)
    assert 0 < model.training_size < len(history)  # warm-up events only teach profiles
    assert model.kind == "trained" and model.feature_names == ACCESS_FEATURES


def test_scoring_the_test_period_ranks_incidents_first(
    trained: tuple[AccessModel, ProfileStore], small_workload: Workload
) -> None:
    model, _ = trained
    _, test, labels = small_workload.split()
    scoring_store = ProfileStore()
    history, _, _ = small_workload.split()
    scoring_store.replay(history)
    scores = model.score_events(test, scoring_store)
    values = np.array([s.value for s in scores])
    anomalous = np.array([label is not None for label in labels])
    assert anomalous.any()
    assert np.median(values[anomalous]) > np.quantile(values[~anomalous], 0.99)
    top = scores[int(np.argmax(values))]
    assert top.label == "anomalous" and top.explanation != "nothing unusual"


def test_save_and_load_round_trip(
    trained: tuple[AccessModel, ProfileStore], tmp_path: Path
) -> None:
    model, _ = trained
    path = tmp_path / "access.joblib"
    sidecar = model.save(path)
    meta = json.loads(sidecar.read_text())
    assert meta["features"] == list(ACCESS_FEATURES)
    assert meta["training_size"] == model.training_size
    assert meta["model_version"] == model.model_version
    loaded = AccessModel.load(path)
    X = np.random.default_rng(0).normal(0, 1, (20, len(ACCESS_FEATURES)))
    assert np.array_equal(loaded.score_samples(X), model.score_samples(X))
    assert loaded.model_version == model.model_version


def test_load_refuses_another_feature_list(
    trained: tuple[AccessModel, ProfileStore], tmp_path: Path
) -> None:
    model, _ = trained
    path = tmp_path / "access.joblib"
    model.save(path)
    with pytest.raises(ModelMismatchError, match=r"missing \['new_feature'\]"):
        AccessModel.load(path, feature_names=(*ACCESS_FEATURES, "new_feature"))
    with pytest.raises(ModelMismatchError, match="order differs"):
        AccessModel.load(path, feature_names=tuple(reversed(ACCESS_FEATURES)))


def test_load_refuses_a_tampered_or_orphaned_model(
    trained: tuple[AccessModel, ProfileStore], tmp_path: Path
) -> None:
    model, _ = trained
    path = tmp_path / "access.joblib"
    sidecar = model.save(path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelMismatchError, match="sha256"):
        AccessModel.load(path)
    sidecar.unlink()
    with pytest.raises(ModelMismatchError, match="sidecar"):
        AccessModel.load(path)


def test_too_little_history_says_what_to_do(small_workload: Workload) -> None:
    with pytest.raises(DetectorError, match="cold_start_model"):
        train_access_model(small_workload.events[:100])


def test_rule_floor_must_reach_the_anomalous_label(small_workload: Workload) -> None:
    with pytest.raises(DetectorError, match="rule_floor >= anomalous"):
        train_access_model(small_workload.events[:100], rule_floor=0.7, anomalous=0.8)


def test_cold_start_model_flags_the_obvious_without_history() -> None:
    model = cold_start_model()
    assert model.kind == "cold-start" and model.training_size > 1000
    normal = dict.fromkeys(ACCESS_FEATURES, 0.0)
    normal["sensitivity"] = 1.0 / 3.0
    rule = dict(normal, first_seen_resource=1.0, sensitivity=1.0, first_sensitive_outside_peers=1.0)
    burst = dict(normal, rate_log2=6.0, hourly_volume_log2=8.0, volume_z=7.0)
    assert model.score_one(normal).label == "normal"
    assert model.score_one(rule).label == "anomalous"
    assert model.score_one(burst).label == "anomalous"
    assert "usual rate" in model.score_one(burst).explanation


def test_load_refuses_another_scikit_learn_version(
    trained: tuple[AccessModel, ProfileStore], tmp_path: Path
) -> None:
    model, _ = trained
    path = tmp_path / "access.joblib"
    sidecar = model.save(path)
    meta = json.loads(sidecar.read_text())
    meta["sklearn_version"] = "0.24.2"
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelMismatchError, match=r"scikit-learn 0\.24\.2"):
        AccessModel.load(path)
