"""Anomaly detectors: unusual access, change detection, distribution drift, model monitoring.

A plain library: no streaming framework, no environment variables. Events are dicts shaped
like ``schemas/ActionEvent.avsc`` and ``schemas/ModelEvent.avsc``; every piece of state
(profiles, change detectors, model monitors) turns into JSON plain data with ``to_dict()``.

Families, one small interface each:

* access scorers (:class:`AccessScorer`, :class:`ForestScorer`, :class:`SignalScorer`):
  ``fit(X)``, ``score_samples(X)``, ``score_one(x) -> Score``; thresholds live in
  :class:`Thresholds`; :func:`train_access_model` / :class:`AccessModel` /
  :func:`cold_start_model` package them with the features of :class:`PrincipalProfile` and
  :class:`PeerProfile`;
* change detectors (:class:`ADWIN`, :class:`PageHinkley`): ``update(value) -> bool``,
  ``reset()``, degradation-only with ``alarm_on``;
* distribution tests (:func:`psi_test`, :func:`ks_test`, :func:`chi2_test`,
  :func:`compare_distributions`) returning :class:`DriftResult`;
* :class:`ModelMonitor`, which combines the last two per model id into a
  :class:`ModelAssessment`.
"""

from clearance.detectors._events import peer_groups
from clearance.detectors._habits import Facts, event_facts
from clearance.detectors.access_model import AccessModel, cold_start_model, train_access_model
from clearance.detectors.change import (
    ADWIN,
    AlarmOn,
    ChangeDetector,
    PageHinkley,
    change_detector_from_dict,
)
from clearance.detectors.checks import check_change_detector, check_scorer
from clearance.detectors.distributions import categorical_distribution, numeric_distribution
from clearance.detectors.drift import (
    DriftResult,
    PsiBand,
    chi2_test,
    compare_distributions,
    ks_test,
    psi,
    psi_band,
    psi_test,
)
from clearance.detectors.errors import DetectorError, DetectorInputError, ModelMismatchError
from clearance.detectors.model_monitor import (
    DEFAULT_METRIC_DIRECTIONS,
    ModelAssessment,
    ModelMonitor,
)
from clearance.detectors.peers import PeerProfile
from clearance.detectors.profiles import ACCESS_FEATURES, PrincipalProfile
from clearance.detectors.score import Score, ScoredBatch, Scorer, Thresholds, as_matrix
from clearance.detectors.scorers import AccessScorer, ForestScorer, SignalScorer
from clearance.detectors.signals import DEFAULT_WEIGHTS, RULE_FEATURE, SIGNALS, Signal
from clearance.detectors.store import ProfileStore
from clearance.detectors.workload import INCIDENT_KINDS, Workload, generate_workload

__all__ = [
    "ACCESS_FEATURES",
    "ADWIN",
    "DEFAULT_METRIC_DIRECTIONS",
    "DEFAULT_WEIGHTS",
    "INCIDENT_KINDS",
    "RULE_FEATURE",
    "SIGNALS",
    "AccessModel",
    "AccessScorer",
    "AlarmOn",
    "ChangeDetector",
    "DetectorError",
    "DetectorInputError",
    "DriftResult",
    "Facts",
    "ForestScorer",
    "ModelAssessment",
    "ModelMismatchError",
    "ModelMonitor",
    "PageHinkley",
    "PeerProfile",
    "PrincipalProfile",
    "ProfileStore",
    "PsiBand",
    "Score",
    "ScoredBatch",
    "Scorer",
    "Signal",
    "SignalScorer",
    "Thresholds",
    "Workload",
    "as_matrix",
    "categorical_distribution",
    "change_detector_from_dict",
    "check_change_detector",
    "check_scorer",
    "chi2_test",
    "cold_start_model",
    "compare_distributions",
    "event_facts",
    "generate_workload",
    "ks_test",
    "numeric_distribution",
    "peer_groups",
    "psi",
    "psi_band",
    "psi_test",
    "train_access_model",
]
