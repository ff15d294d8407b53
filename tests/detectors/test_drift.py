import math

import numpy as np
import pytest
from scipy import stats

from clearance.detectors import (
    DetectorInputError,
    categorical_distribution,
    chi2_test,
    compare_distributions,
    ks_test,
    numeric_distribution,
    psi,
    psi_band,
    psi_test,
)


def test_psi_matches_the_formula_on_known_counts() -> None:
    ref, cur = [50, 30, 20], [30, 30, 40]
    p, q = np.array(ref) / 100, np.array(cur) / 100
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi(ref, cur) == pytest.approx(expected)
    assert psi(ref, cur) == pytest.approx(0.2407, abs=1e-4)
    assert psi(ref, ref) == 0.0


def test_psi_bands() -> None:
    assert [psi_band(v) for v in (0.05, 0.1, 0.19, 0.2, 0.5)] == [
        "stable",
        "moderate",
        "moderate",
        "significant",
        "significant",
    ]


def test_psi_floors_empty_bins_instead_of_dividing_by_zero() -> None:
    value = psi([10, 10, 0], [10, 10, 10])
    assert math.isfinite(value) and value > 0.2


def test_psi_test_rebins_a_histogram_on_other_edges() -> None:
    values = np.random.default_rng(1).normal(0, 1, 20_000)
    reference = numeric_distribution("x", values, bins=10)
    coarse = numeric_distribution("x", values, bin_edges=np.linspace(-5, 5, 41))
    result = psi_test(reference, coarse)
    assert result.statistic < 0.02 and not result.drifted


def test_psi_test_flags_a_shift() -> None:
    rng = np.random.default_rng(2)
    reference = numeric_distribution("age", rng.normal(40, 10, 5000))
    current = numeric_distribution("age", rng.normal(50, 10, 5000), reference["bin_edges"])
    result = psi_test(reference, current)
    assert result.test == "psi" and result.p_value is None
    assert result.drifted and "significant" in result.explanation


def test_ks_agrees_with_scipy_and_applies_bonferroni() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 300), rng.normal(0.25, 1, 300)
    expected = stats.ks_2samp(a, b)
    single = ks_test("x", a, b, alpha=0.05)
    assert single.statistic == pytest.approx(expected.statistic)
    assert single.p_value == pytest.approx(expected.pvalue)
    assert expected.pvalue < 0.05
    assert single.drifted
    corrected = ks_test("x", a, b, alpha=0.05, n_tests=int(0.05 / expected.pvalue) + 1)
    assert not corrected.drifted


def test_chi2_agrees_with_scipy_and_handles_new_categories() -> None:
    reference = {
        "name": "country",
        "kind": "categorical",
        "categories": ["fr", "de"],
        "counts": [500, 500],
    }
    current = {
        "name": "country",
        "kind": "categorical",
        "categories": ["fr", "de", "it"],
        "counts": [400, 400, 200],
    }
    result = chi2_test(reference, current)
    expected = stats.chi2_contingency([[500, 500, 0], [400, 400, 200]], correction=False)
    assert result.statistic == pytest.approx(expected[0])
    assert result.p_value == pytest.approx(expected[1])
    assert result.drifted and "it +20.0 pts" in result.explanation


def test_chi2_stays_quiet_on_the_same_proportions() -> None:
    reference = categorical_distribution("c", ["a"] * 300 + ["b"] * 700)
    current = categorical_distribution("c", ["a"] * 30 + ["b"] * 70)
    assert not chi2_test(reference, current).drifted


def test_compare_distributions_runs_every_test_with_one_bonferroni_family() -> None:
    rng = np.random.default_rng(4)
    ref = [
        numeric_distribution("a", rng.normal(0, 1, 2000), sample_size=500, seed=1),
        numeric_distribution("b", rng.normal(0, 1, 2000)),
        categorical_distribution("c", rng.choice(["x", "y"], 2000)),
    ]
    cur = [
        numeric_distribution("a", rng.normal(1, 1, 2000), ref[0]["bin_edges"], sample_size=500),
        numeric_distribution("b", rng.normal(0, 1, 2000), ref[1]["bin_edges"]),
        categorical_distribution("c", rng.choice(["x", "y"], 2000)),
    ]
    results = compare_distributions(ref, cur, alpha=0.01)
    assert [(r.feature, r.test) for r in results] == [
        ("a", "psi"),
        ("a", "ks"),
        ("b", "psi"),
        ("c", "psi"),
        ("c", "chi2"),
    ]
    assert "level 0.005" in results[1].explanation  # two p-value tests share alpha
    assert {r.feature for r in results if r.drifted} == {"a"}


def test_kind_mismatch_is_refused() -> None:
    numeric = numeric_distribution("a", [1.0, 2.0, 3.0])
    categorical = categorical_distribution("a", ["x"])
    with pytest.raises(DetectorInputError, match="numeric in the reference"):
        compare_distributions([numeric], [categorical])
