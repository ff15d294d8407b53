"""Windowed distribution tests: PSI, two-sample Kolmogorov-Smirnov, chi-squared.

Each test compares a reference distribution with a current one and returns a
:class:`DriftResult`. Distributions are plain dicts shaped like ``FeatureDistribution`` in
``schemas/ModelEvent.avsc``: ``{"name", "kind": "numeric"|"categorical", "bin_edges",
"categories", "counts", "sample"}``; :mod:`clearance.detectors.distributions` builds them from
raw values.

:func:`compare_distributions` runs every applicable test over a set of features and applies a
Bonferroni correction across all the p-value tests of that window (KS and chi-squared), so the
chance of any false alarm in one comparison stays at ``alpha``.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from clearance.detectors.errors import DetectorInputError

__all__ = [
    "DriftResult",
    "PsiBand",
    "chi2_test",
    "compare_distributions",
    "ks_test",
    "psi",
    "psi_band",
    "psi_test",
]

PsiBand = Literal["stable", "moderate", "significant"]
# Proportions of empty bins are floored so log(0) never appears; 1e-4 is the usual choice and
# caps one empty bin's contribution at a few tenths.
_PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class DriftResult:
    """Outcome of one test on one feature.

    Attributes
    ----------
    feature
        Feature name (``__prediction__`` for the predictions).
    test
        ``"psi"``, ``"ks"`` or ``"chi2"``.
    statistic
        PSI value, KS D statistic or chi-squared statistic.
    p_value
        p-value of KS and chi-squared (None for PSI, which is a distance, not a test).
    drifted
        PSI at or above the significant band, or p-value below the Bonferroni-corrected alpha.
    explanation
        One line a person can read.
    """

    feature: str
    test: str
    statistic: float
    p_value: float | None
    drifted: bool
    explanation: str


def psi_band(value: float, moderate: float = 0.1, significant: float = 0.2) -> PsiBand:
    """Name the band of a PSI value.

    Below ``moderate`` it is stable, below ``significant`` moderate, else significant.
    """
    if value < moderate:
        return "stable"
    if value < significant:
        return "moderate"
    return "significant"


def psi(
    reference_counts: Sequence[float] | np.ndarray, current_counts: Sequence[float] | np.ndarray
) -> float:
    """Population stability index of two histograms over the same bins.

    Parameters
    ----------
    reference_counts, current_counts
        Counts per bin (same length, same bins).

    Returns
    -------
    float
        ``sum((c - r) * ln(c / r))`` over the bin proportions, empty bins floored at 1e-4.
    """
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    if ref.shape != cur.shape or ref.ndim != 1 or ref.size == 0:
        raise DetectorInputError(
            f"psi needs two non-empty count vectors of one length, got {ref.shape} and "
            f"{cur.shape}. Fix: histogram both windows over the same bins."
        )
    if ref.sum() <= 0 or cur.sum() <= 0:
        raise DetectorInputError("psi needs at least one count in each histogram.")
    p = np.maximum(ref / ref.sum(), _PSI_FLOOR)
    q = np.maximum(cur / cur.sum(), _PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _rebin(edges: np.ndarray, counts: np.ndarray, target_edges: np.ndarray) -> np.ndarray:
    """Move a histogram onto other bin edges, spreading each bin's count evenly across it."""
    cumulative = np.concatenate([[0.0], np.cumsum(counts)])
    at_targets = np.interp(target_edges, edges, cumulative)
    rebinned = np.diff(at_targets)
    # Mass outside the target range belongs to the outermost bins rather than vanishing.
    rebinned[0] += at_targets[0]
    rebinned[-1] += cumulative[-1] - at_targets[-1]
    return np.maximum(rebinned, 0.0)


def _numeric_counts(dist: Mapping[str, Any], edges: np.ndarray) -> np.ndarray:
    own_edges = np.asarray(dist.get("bin_edges") or [], dtype=float)
    counts = np.asarray(dist.get("counts") or [], dtype=float)
    if own_edges.size and own_edges.size == counts.size + 1:
        if own_edges.shape == edges.shape and np.allclose(own_edges, edges):
            return counts
        return _rebin(own_edges, counts, edges)
    sample = np.asarray(dist.get("sample") or [], dtype=float)
    if sample.size:
        clipped = np.clip(sample, edges[0], edges[-1])
        return np.histogram(clipped, bins=edges)[0].astype(float)
    raise DetectorInputError(
        f"feature {dist.get('name')!r}: a numeric distribution needs bin_edges with "
        "len(counts) + 1 entries, or a sample. Fix: publish the histogram or a sample."
    )


def psi_test(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    moderate: float = 0.1,
    significant: float = 0.2,
) -> DriftResult:
    """PSI of one feature between a reference and a current distribution.

    Numeric features are compared on the reference's bins (a current histogram on other bins
    is re-binned assuming values spread evenly within a bin; a bare sample is histogrammed);
    categorical ones on the union of their categories.

    Parameters
    ----------
    reference, current
        FeatureDistribution dicts of the same feature and kind.
    moderate, significant
        Band limits; ``drifted`` is ``psi >= significant``.

    Returns
    -------
    DriftResult
        ``test="psi"``, ``p_value=None``.
    """
    name = str(reference.get("name"))
    if reference.get("kind") == "categorical":
        _, ref_counts, cur_counts = _aligned_categories(reference, current)
    else:
        edges = np.asarray(reference.get("bin_edges") or [], dtype=float)
        if edges.size < 2:
            sample = np.asarray(reference.get("sample") or [], dtype=float)
            if sample.size == 0:
                raise DetectorInputError(
                    f"feature {name!r}: the reference has neither bin_edges nor a sample. "
                    "Fix: register the model with a histogram of each numeric feature."
                )
            edges = np.unique(np.quantile(sample, np.linspace(0.0, 1.0, 11)))
            if edges.size < 2:
                edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        ref_counts = _numeric_counts(reference, edges)
        cur_counts = _numeric_counts(current, edges)
    value = psi(ref_counts, cur_counts)
    band = psi_band(value, moderate, significant)
    return DriftResult(
        feature=name,
        test="psi",
        statistic=value,
        p_value=None,
        drifted=band == "significant",
        explanation=f"{name}: PSI {value:.3f} ({band})",
    )


def ks_test(
    feature: str,
    reference_sample: Sequence[float] | np.ndarray,
    current_sample: Sequence[float] | np.ndarray,
    alpha: float = 0.01,
    n_tests: int = 1,
) -> DriftResult:
    """Two-sample Kolmogorov-Smirnov test with a Bonferroni-corrected level.

    Parameters
    ----------
    feature
        Feature name, for the result.
    reference_sample, current_sample
        Raw values of the two windows.
    alpha
        Family-wise significance level.
    n_tests
        Number of tests in the family; the test rejects at ``alpha / n_tests``.

    Returns
    -------
    DriftResult
        ``test="ks"``, the D statistic and its p-value.
    """
    ref = np.asarray(reference_sample, dtype=float)
    cur = np.asarray(current_sample, dtype=float)
    if ref.size == 0 or cur.size == 0:
        raise DetectorInputError(
            f"feature {feature!r}: the KS test needs a non-empty sample in both windows."
        )
    outcome = stats.ks_2samp(ref, cur)
    statistic, p_value = float(outcome.statistic), float(outcome.pvalue)
    level = alpha / max(n_tests, 1)
    drifted = p_value < level
    verdict = "differs" if drifted else "no evidence of change"
    return DriftResult(
        feature=feature,
        test="ks",
        statistic=statistic,
        p_value=p_value,
        drifted=drifted,
        explanation=f"{feature}: KS D={statistic:.3f} p={p_value:.2g} "
        f"(level {level:.2g}) {verdict}",
    )


def _aligned_categories(
    reference: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    ref = dict(zip(reference.get("categories") or [], reference.get("counts") or [], strict=False))
    cur = dict(zip(current.get("categories") or [], current.get("counts") or [], strict=False))
    if len(ref) != len(reference.get("counts") or []) or not ref:
        raise DetectorInputError(
            f"feature {reference.get('name')!r}: a categorical distribution needs one count per "
            "category (and at least one). Fix: publish categories and counts aligned."
        )
    categories = list(ref) + [c for c in cur if c not in ref]
    return (
        categories,
        np.array([ref.get(c, 0) for c in categories], dtype=float),
        np.array([cur.get(c, 0) for c in categories], dtype=float),
    )


def chi2_test(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    alpha: float = 0.01,
    n_tests: int = 1,
) -> DriftResult:
    """Chi-squared test of homogeneity between two categorical count tables.

    Parameters
    ----------
    reference, current
        Categorical FeatureDistribution dicts (categories aligned with counts); categories
        that appear on one side only count as zero on the other.
    alpha
        Family-wise significance level.
    n_tests
        Number of tests in the family; the test rejects at ``alpha / n_tests``.

    Returns
    -------
    DriftResult
        ``test="chi2"``, the statistic and its p-value.
    """
    name = str(reference.get("name"))
    categories, ref_counts, cur_counts = _aligned_categories(reference, current)
    keep = (ref_counts + cur_counts) > 0
    if cur_counts.sum() <= 0:
        raise DetectorInputError(f"feature {name!r}: the current window has no counts.")
    level = alpha / max(n_tests, 1)
    if keep.sum() < 2:
        return DriftResult(name, "chi2", 0.0, 1.0, False, f"{name}: a single category, no test")
    table = np.vstack([ref_counts[keep], cur_counts[keep]])
    statistic, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    drifted = bool(p_value < level)
    moved = _largest_shift(categories, ref_counts, cur_counts, keep)
    verdict = f"differs (most moved: {moved})" if drifted else "no evidence of change"
    return DriftResult(
        feature=name,
        test="chi2",
        statistic=float(statistic),
        p_value=float(p_value),
        drifted=drifted,
        explanation=f"{name}: chi2={float(statistic):.1f} p={float(p_value):.2g} "
        f"(level {level:.2g}) {verdict}",
    )


def _largest_shift(
    categories: list[str], ref: np.ndarray, cur: np.ndarray, keep: np.ndarray
) -> str:
    shares = cur / cur.sum() - ref / ref.sum()
    shares[~keep] = 0.0
    index = int(np.argmax(np.abs(shares)))
    return f"{categories[index]} {shares[index] * 100:+.1f} pts"


def compare_distributions(
    reference: Iterable[Mapping[str, Any]],
    current: Iterable[Mapping[str, Any]],
    alpha: float = 0.01,
    psi_moderate: float = 0.1,
    psi_significant: float = 0.2,
) -> list[DriftResult]:
    """Run PSI on every feature, KS where both windows carry a sample, chi-squared on categories.

    Parameters
    ----------
    reference, current
        FeatureDistribution dicts; features are matched by name, and features present in only
        one window are skipped (the caller reports them).
    alpha
        Family-wise level, Bonferroni-divided across all KS and chi-squared tests of the call.
    psi_moderate, psi_significant
        PSI bands.

    Returns
    -------
    list of DriftResult
        In reference order: PSI first, then KS or chi-squared, for each shared feature.
    """
    ref_by_name = {str(d.get("name")): d for d in reference}
    cur_by_name = {str(d.get("name")): d for d in current}
    shared = [name for name in ref_by_name if name in cur_by_name]
    for name in shared:
        if ref_by_name[name].get("kind") != cur_by_name[name].get("kind"):
            raise DetectorInputError(
                f"feature {name!r} is {ref_by_name[name].get('kind')} in the reference but "
                f"{cur_by_name[name].get('kind')} in the current window. Fix: publish one kind."
            )
    tested = [
        name
        for name in shared
        if ref_by_name[name].get("kind") == "categorical"
        or (ref_by_name[name].get("sample") and cur_by_name[name].get("sample"))
    ]
    n_tests = len(tested)
    results: list[DriftResult] = []
    for name in shared:
        ref, cur = ref_by_name[name], cur_by_name[name]
        results.append(psi_test(ref, cur, psi_moderate, psi_significant))
        if name not in tested:
            continue
        if ref.get("kind") == "categorical":
            results.append(chi2_test(ref, cur, alpha, n_tests))
        else:
            results.append(ks_test(name, ref["sample"], cur["sample"], alpha, n_tests))
    return results
