"""Build FeatureDistribution dicts (``schemas/ModelEvent.avsc``) from raw values.

Publishers of model events and the tests use these to summarise a window; the drift tests of
:mod:`clearance.detectors.drift` read them.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from clearance.detectors.errors import DetectorInputError

__all__ = ["categorical_distribution", "numeric_distribution"]


def numeric_distribution(
    name: str,
    values: Sequence[float] | np.ndarray,
    bin_edges: Sequence[float] | np.ndarray | None = None,
    bins: int = 10,
    sample_size: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Summarise numeric values as a FeatureDistribution dict.

    Parameters
    ----------
    name
        Feature name.
    values
        Raw values.
    bin_edges
        Edges to use (pass the reference's edges when summarising a production window);
        None makes ``bins`` quantile bins of ``values``. Values outside the edges count in the
        outermost bins.
    bins
        Number of quantile bins when ``bin_edges`` is None.
    sample_size
        Keep a random sample of this many values for KS tests (0: none).
    seed
        Seed of the sample draw.

    Returns
    -------
    dict
        ``{"name", "kind": "numeric", "bin_edges", "categories": [], "counts", "sample"}``.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0 or not np.all(np.isfinite(data)):
        raise DetectorInputError(f"feature {name!r}: need at least one value, all finite.")
    if bin_edges is None:
        edges = np.unique(np.quantile(data, np.linspace(0.0, 1.0, bins + 1)))
        if edges.size < 2:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    else:
        edges = np.asarray(bin_edges, dtype=float)
    counts = np.histogram(np.clip(data, edges[0], edges[-1]), bins=edges)[0]
    sample: list[float] = []
    if sample_size > 0:
        rng = np.random.default_rng(seed)
        size = min(sample_size, data.size)
        sample = rng.choice(data, size=size, replace=False).tolist()
    return {
        "name": name,
        "kind": "numeric",
        "bin_edges": edges.tolist(),
        "categories": [],
        "counts": [int(c) for c in counts],
        "sample": sample,
    }


def categorical_distribution(name: str, values: Iterable[str]) -> dict[str, Any]:
    """Summarise categorical values as a FeatureDistribution dict (categories sorted)."""
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    if not counts:
        raise DetectorInputError(f"feature {name!r}: need at least one value.")
    categories = sorted(counts)
    return {
        "name": name,
        "kind": "categorical",
        "bin_edges": [],
        "categories": categories,
        "counts": [counts[c] for c in categories],
        "sample": [],
    }
