import numpy as np
import pytest

from clearance.detectors import DetectorInputError, categorical_distribution, numeric_distribution


def test_numeric_distribution_uses_quantile_bins_by_default() -> None:
    values = np.random.default_rng(0).normal(0, 1, 10_000)
    dist = numeric_distribution("x", values, bins=10)
    assert dist["kind"] == "numeric" and len(dist["bin_edges"]) == 11
    assert sum(dist["counts"]) == 10_000
    assert max(dist["counts"]) - min(dist["counts"]) <= 2  # deciles hold a tenth each
    assert dist["sample"] == []


def test_values_outside_given_edges_count_in_the_outer_bins() -> None:
    dist = numeric_distribution("x", [-100.0, 0.5, 1.5, 100.0], bin_edges=[0.0, 1.0, 2.0])
    assert dist["counts"] == [2, 2]


def test_sample_is_seeded_and_bounded() -> None:
    values = np.arange(1000, dtype=float)
    a = numeric_distribution("x", values, sample_size=50, seed=3)
    b = numeric_distribution("x", values, sample_size=50, seed=3)
    assert a["sample"] == b["sample"] and len(a["sample"]) == 50
    assert len(numeric_distribution("x", values[:10], sample_size=50)["sample"]) == 10


def test_constant_values_still_get_a_bin() -> None:
    dist = numeric_distribution("x", [3.0] * 5)
    assert dist["bin_edges"] == [2.5, 3.5] and dist["counts"] == [5]


def test_categorical_distribution_counts_sorted_categories() -> None:
    dist = categorical_distribution("plan", ["pro", "basic", "pro"])
    assert dist["categories"] == ["basic", "pro"] and dist["counts"] == [1, 2]


def test_empty_or_non_finite_input_is_refused() -> None:
    with pytest.raises(DetectorInputError, match="at least one value"):
        numeric_distribution("x", [])
    with pytest.raises(DetectorInputError, match="finite"):
        numeric_distribution("x", [1.0, float("nan")])
    with pytest.raises(DetectorInputError, match="at least one value"):
        categorical_distribution("c", [])
