"""Quality benchmark of clearance.detectors: change detection, drift tests, unusual access, cost.

Run from the repository root::

    .venv/bin/python bench/detectors_quality.py            # full run, writes the report
    .venv/bin/python bench/detectors_quality.py --quick    # few seeds, smoke test only

It prints a table per section and writes ``docs/benchmarks-detectors.md``. Every stream and
workload is generated from a seed, so a run is reproducible up to timing figures. This is a
measurement, not a test: nothing here asserts; targets are printed next to the figures.

Change detection (seeds 0..N-1, N = 200; detector settings were chosen beforehand on seeds
10000 and up, so these seeds are unseen):

* ``gauss 1 sd``: 1000 values N(0, 1), then 1000 values N(1, 1); change at index 1000.
* ``gauss 0.5 sd``: the same with N(0.5, 1) after the change.
* ``bernoulli 0.1->0.2``: 1000 Bernoulli(0.1), then 1000 Bernoulli(0.2): an error stream whose
  error rate doubles (a shift of 0.33 sd, harder than 0.5 sd).
* stationary: 10,000 values N(0, 1), and 10,000 Bernoulli(0.1), per seed.
* ``SEA`` / ``Agrawal`` (river's generators, 40 seeds each): a Hoeffding tree learns
  online (test-then-train); its 0/1 error stream is monitored. After 2000 examples the
  concept changes abruptly (SEA variant 0 -> 3; Agrawal function 0 -> 2), 1000 more follow.

Detectors run in degradation-only mode (``alarm_on="increase"``). Delay = first alarm at or
after the change minus the change index; missed = no alarm within the 1000 values after it;
false alarms are counted on the stationary streams (per 10,000 values) and, for the
concept-drift streams, before the change. river's own ADWIN and PageHinkley run on the same
Gaussian/Bernoulli streams (first 50 seeds) for comparison.

Distribution tests (200 seeds): a reference window of 5000 rows with 5 numeric features
N(0, 1) (10 quantile bins, a 500-value sample each) and 2 categorical features (4 categories
with shares 0.4/0.3/0.2/0.1), against a current window of 5000 rows with: no change; feature
``x0`` shifted by 0.2 sd or 0.5 sd (covariate shift); category shares of ``c0`` moved by 5
points (0.35/0.3/0.2/0.15). All tests go through ``compare_distributions`` (alpha 0.01,
Bonferroni across the 7 KS/chi-squared tests). Reported: share of windows where the test
flags the shifted feature, and share of windows where any unshifted feature is flagged.

Unusual access (workload seeds 0, 1, 2): ``generate_workload`` (28 days, incidents in the last
7; see clearance.detectors.workload for the principals, their habits, the benign noise and the
four incident kinds). ``train_access_model`` replays the first 21 days into a ProfileStore and
fits the scorer; the last 7 days are scored with ``AccessModel.score_events`` (features, then
observe, event by event). Reported: ROC AUC over all test events (label = incident event),
the same per incident kind (that kind against normal events), precision of the 50 highest
scores, and ablations (forest alone, signals alone). The rule check recomputes, with exact
unbounded sets independent of the detectors, every first access in the test period to a
confidential/restricted resource that no member of the principal's roles touched before, and
counts how many the model labelled anomalous.

Cost: per-event cost of ``ProfileStore.replay_events`` (features + observe, the stream's batch
path) plus one batched
``score_samples`` call, in batches of 500 test events; and with explanations
(``score_events``). Best of 5 rounds of CPU time, as the machine may be shared.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from clearance.detectors import (
    ADWIN,
    INCIDENT_KINDS,
    PageHinkley,
    ProfileStore,
    SignalScorer,
    as_matrix,
    categorical_distribution,
    compare_distributions,
    generate_workload,
    numeric_distribution,
    train_access_model,
)

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks-detectors.md"
CHANGE_AT, HORIZON, STATIONARY = 1000, 1000, 10_000
SENSITIVE = {"confidential", "restricted"}


# -- machine ----------------------------------------------------------------------------------


def machine_line() -> str:
    """``uname -m``, CPU model, cores and RAM, as one line."""
    arch = subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip()
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as info:
        kib = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    load = os.getloadavg()[0]
    return (
        f"{arch}, {cpu}, {os.cpu_count()} cores, {kib / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, load average {load:.1f} at start"
    )


# -- change detection -------------------------------------------------------------------------


def change_streams(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "gauss 1 sd": np.r_[rng.normal(0, 1, CHANGE_AT), rng.normal(1, 1, HORIZON)],
        "gauss 0.5 sd": np.r_[rng.normal(0, 1, CHANGE_AT), rng.normal(0.5, 1, HORIZON)],
        "bernoulli 0.1->0.2": np.r_[
            (rng.random(CHANGE_AT) < 0.1).astype(float), (rng.random(HORIZON) < 0.2).astype(float)
        ],
        "stationary gauss": rng.normal(0, 1, STATIONARY),
        "stationary bernoulli": (rng.random(STATIONARY) < 0.1).astype(float),
    }


def alarms(detector: Any, values: Iterable[float]) -> list[int]:
    found = []
    for i, value in enumerate(values):
        detector.update(value)
        if detector.drift_detected:
            found.append(i)
    return found


def run_detector_on_seed(
    make: Callable[[], Any], seed: int, stationary_only: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in change_streams(seed).items():
        if stationary_only and not name.startswith("stationary"):
            continue
        hits = alarms(make(), values.tolist())
        if name.startswith("stationary"):
            out[name] = len(hits)
        else:
            after = [h for h in hits if h >= CHANGE_AT]
            out[name] = (after[0] - CHANGE_AT if after else None, sum(h < CHANGE_AT for h in hits))
    return out


@dataclass
class DelayStats:
    median: float
    p90: float
    missed_pct: float

    @classmethod
    def of(cls, delays: list[int | None]) -> "DelayStats":
        found = [d for d in delays if d is not None]
        missed = 100.0 * (len(delays) - len(found)) / len(delays)
        if not found:
            return cls(float("nan"), float("nan"), missed)
        return cls(float(np.median(found)), float(np.percentile(found, 90)), missed)

    def cell(self) -> str:
        return f"{self.median:.0f} / {self.p90:.0f} / {self.missed_pct:.1f}%"


def change_detection(pool: ProcessPoolExecutor, seeds: int) -> tuple[list[list[str]], dict]:
    configs: dict[str, Callable[[], Any]] = {
        "ADWIN delta=0.002 (default)": partial(ADWIN, alarm_on="increase"),
        "ADWIN delta=0.01": partial(ADWIN, delta=0.01, alarm_on="increase"),
        "PageHinkley (default: delta=0.1 sd, threshold=50 sd)": partial(
            PageHinkley, alarm_on="increase"
        ),
    }
    both: dict[str, Callable[[], Any]] = {
        "ADWIN delta=0.002, alarm_on=both": ADWIN,
        "PageHinkley default, alarm_on=both": PageHinkley,
    }
    try:
        from river import drift as river_drift

        river_configs: dict[str, Callable[[], Any]] = {
            "river ADWIN (delta=0.002, two-sided)": river_drift.ADWIN,
            "river PageHinkley (defaults, mode=up, raw units)": partial(
                river_drift.PageHinkley, mode="up"
            ),
        }
    except ImportError:
        river_configs = {}
    rows = []
    summary: dict[str, Any] = {}
    plans = [(label, make, seeds, False) for label, make in configs.items()]
    plans += [(label, make, seeds, True) for label, make in both.items()]
    plans += [(label, make, min(seeds, 50), False) for label, make in river_configs.items()]
    for label, make, n, stationary_only in plans:
        started = time.perf_counter()
        results = list(pool.map(run_detector_on_seed, [make] * n, range(n), [stationary_only] * n))
        elapsed = time.perf_counter() - started
        fa = {
            k: sum(r[k] for r in results) / (n * STATIONARY) * 10_000
            for k in ("stationary gauss", "stationary bernoulli")
        }
        if stationary_only:
            rows.append(
                [
                    label,
                    str(n),
                    "-",
                    "-",
                    "-",
                    f"{fa['stationary gauss']:.2f}",
                    f"{fa['stationary bernoulli']:.2f}",
                    f"{elapsed:.1f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
            continue
        stats = {
            k: DelayStats.of([r[k][0] for r in results])
            for k in ("gauss 1 sd", "gauss 0.5 sd", "bernoulli 0.1->0.2")
        }
        summary[label] = (stats, fa, n)
        rows.append(
            [
                label,
                str(n),
                stats["gauss 1 sd"].cell(),
                stats["gauss 0.5 sd"].cell(),
                stats["bernoulli 0.1->0.2"].cell(),
                f"{fa['stationary gauss']:.2f}",
                f"{fa['stationary bernoulli']:.2f}",
                f"{elapsed:.1f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows, summary


def agreement_with_river(seeds: int) -> str:
    """Share of seeds where our ADWIN and river's first alarm at the same index."""
    try:
        from river import drift as river_drift
    except ImportError:
        return "river not installed: no comparison"
    same = total = 0
    for seed in range(min(seeds, 50)):
        values = change_streams(seed)["gauss 1 sd"].tolist()
        ours = alarms(ADWIN(), values)
        theirs = alarms(river_drift.ADWIN(), values)
        total += 1
        same += ours[:1] == theirs[:1]
    return f"{same}/{total} seeds with the same first alarm index (gauss 1 sd, two-sided)"


def update_cost() -> list[list[str]]:
    values = np.random.default_rng(0).normal(0, 1, 200_000).tolist()
    makers: dict[str, Callable[[], Any]] = {"ADWIN": ADWIN, "PageHinkley": PageHinkley}
    try:
        from river import drift as river_drift

        makers["river ADWIN (Rust)"] = river_drift.ADWIN
        makers["river PageHinkley"] = river_drift.PageHinkley
    except ImportError:
        pass
    rows = []
    for label, make in makers.items():
        best = float("inf")
        for _ in range(3):
            detector = make()
            started = time.process_time()
            for value in values:
                detector.update(value)
            best = min(best, time.process_time() - started)
        rows.append([label, f"{best / len(values) * 1e6:.2f}"])
    return rows


def concept_error_stream(kind: str, seed: int) -> list[float]:
    from river import tree
    from river.datasets import synth

    before: Iterable[tuple[dict[str, Any], Any]]
    after: Iterable[tuple[dict[str, Any], Any]]
    if kind == "SEA":
        before, after = synth.SEA(variant=0, seed=seed), synth.SEA(variant=3, seed=seed + 10_000)
    else:
        before = synth.Agrawal(classification_function=0, seed=seed)
        after = synth.Agrawal(classification_function=2, seed=seed + 10_000)
    model = tree.HoeffdingTreeClassifier()
    errors = []
    for x, y in chain(islice(before, 2000), islice(after, 1000)):
        errors.append(float(model.predict_one(x) != y))
        model.learn_one(x, y)
    return errors


def concept_drift(pool: ProcessPoolExecutor, seeds: int) -> list[list[str]]:
    try:
        import river  # noqa: F401
    except ImportError:
        return [["river not installed", "", "", "", "", ""]]
    rows = []
    for kind in ("SEA", "Agrawal"):
        streams = list(pool.map(concept_error_stream, [kind] * seeds, range(seeds)))
        pre = np.mean([np.mean(s[1000:2000]) for s in streams])
        post = np.mean([np.mean(s[2000:2200]) for s in streams])
        for label, make in (
            ("ADWIN delta=0.002", partial(ADWIN, alarm_on="increase")),
            ("PageHinkley default", partial(PageHinkley, alarm_on="increase")),
        ):
            delays: list[int | None] = []
            false_before = 0
            for stream in streams:
                hits = alarms(make(), stream)
                after = [h for h in hits if h >= 2000]
                delays.append(after[0] - 2000 if after else None)
                false_before += sum(h < 2000 for h in hits)
            stats = DelayStats.of(delays)
            rows.append(
                [
                    kind,
                    label,
                    str(seeds),
                    f"{pre:.3f} -> {post:.3f}",
                    stats.cell(),
                    f"{false_before / (seeds * 2000) * 10_000:.1f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    return rows


# -- distribution tests -----------------------------------------------------------------------


def drift_window(seed: int) -> dict[str, tuple[bool, bool, bool]]:
    """For each scenario: (PSI flags the target, KS/chi2 flags it, any other feature flagged)."""
    rng = np.random.default_rng(seed)
    n = 5000
    shares = [0.4, 0.3, 0.2, 0.1]
    cats = ["a", "b", "c", "d"]

    def window(shift: float, moved: bool, reference: list | None) -> list[dict[str, Any]]:
        out = []
        for j in range(5):
            values = rng.normal(shift if j == 0 else 0.0, 1.0, n)
            edges = reference[j]["bin_edges"] if reference else None
            out.append(numeric_distribution(f"x{j}", values, edges, sample_size=500, seed=seed))
        for j in range(2):
            p = [0.35, 0.3, 0.2, 0.15] if moved and j == 0 else shares
            out.append(categorical_distribution(f"c{j}", rng.choice(cats, n, p=p)))
        return out

    reference = window(0.0, False, None)
    outcome = {}
    for scenario, shift, moved, target in (
        ("no change", 0.0, False, None),
        ("x0 +0.2 sd", 0.2, False, "x0"),
        ("x0 +0.5 sd", 0.5, False, "x0"),
        ("c0 shares moved 5 pts", 0.0, True, "c0"),
    ):
        results = compare_distributions(reference, window(shift, moved, reference), alpha=0.01)
        psi_hit = any(r.drifted for r in results if r.feature == target and r.test == "psi")
        test_hit = any(r.drifted for r in results if r.feature == target and r.test != "psi")
        others = any(r.drifted for r in results if r.feature != target)
        outcome[scenario] = (psi_hit, test_hit, others)
    return outcome


def distribution_tests(pool: ProcessPoolExecutor, seeds: int) -> list[list[str]]:
    results = list(pool.map(drift_window, range(seeds)))
    rows = []
    for scenario in results[0]:
        psi = 100.0 * np.mean([r[scenario][0] for r in results])
        test = 100.0 * np.mean([r[scenario][1] for r in results])
        others = 100.0 * np.mean([r[scenario][2] for r in results])
        target = "n/a" if scenario == "no change" else f"{psi:.1f}%"
        test_cell = "n/a" if scenario == "no change" else f"{test:.1f}%"
        rows.append([scenario, str(seeds), target, test_cell, f"{others:.1f}%"])
        print(" | ".join(rows[-1]), flush=True)
    return rows


# -- unusual access ---------------------------------------------------------------------------


def rule_ground_truth(events: list[dict[str, Any]], test_start_ms: int) -> list[int]:
    """Indices (into the test events) of first sensitive accesses outside the peer group."""
    touched: dict[str, set[str]] = {}
    group_touched: dict[str, set[str]] = {}
    hits = []
    test_index = 0
    for event in events:
        principal = event["principal"]
        pid = principal["id"]
        groups = principal.get("roles") or [f"type:{principal['type']}"]
        key = f"{event['resource']['type']}/{event['resource']['id']}"
        sensitive = (event["resource"].get("sensitivity") or "internal") in SENSITIVE
        in_test = event["occurred_at"] >= test_start_ms
        if (
            in_test
            and sensitive
            and key not in touched.get(pid, set())
            and not any(key in group_touched.get(g, set()) for g in groups)
        ):
            hits.append(test_index)
        touched.setdefault(pid, set()).add(key)
        if sensitive:
            for g in groups:
                group_touched.setdefault(g, set()).add(key)
        if in_test:
            test_index += 1
    return hits


def precision_at(y: np.ndarray, scores: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, kind="stable")[:k]
    return float(y[top].mean())


def access_on_seed(seed: int) -> dict[str, Any]:
    workload = generate_workload(seed=seed)
    history, test, labels = workload.split()
    store = ProfileStore()
    started = time.perf_counter()
    model = train_access_model(history, store=store, seed=seed)
    train_s = time.perf_counter() - started
    scores = model.score_events(test, store)
    values = np.array([s.value for s in scores])
    y = np.array([label is not None for label in labels])
    # Ablations on the same features (recomputed from a fresh replay, identical by design).
    ablation_store = ProfileStore()
    ablation_store.replay(history)
    X = as_matrix(ablation_store.replay(test))
    forest = model.scorer.scorer.forest_.score_samples(X)
    signals = SignalScorer().score_samples(X)
    out: dict[str, Any] = {
        "seed": seed,
        "events": len(workload.events),
        "test_events": len(test),
        "incident_events": int(y.sum()),
        "train_s": train_s,
        "training_size": model.training_size,
        "auc": roc_auc_score(y, values),
        "p50": precision_at(y, values, 50),
        "auc_forest": roc_auc_score(y, forest),
        "p50_forest": precision_at(y, forest, 50),
        "auc_signals": roc_auc_score(y, signals),
        "p50_signals": precision_at(y, signals, 50),
        "identical_features": bool(np.allclose(model.score_samples(X), values)),
    }
    for kind in INCIDENT_KINDS:
        mask = np.array([label in (None, kind) for label in labels])
        out[f"auc_{kind}"] = roc_auc_score(y[mask], values[mask])
        out[f"n_{kind}"] = int(sum(label == kind for label in labels))
    truth = rule_ground_truth(workload.events, workload.test_start_ms)
    out["rule_total"] = len(truth)
    out["rule_flagged"] = sum(scores[i].label == "anomalous" for i in truth)
    out["rule_incident"] = sum(labels[i] is not None for i in truth)
    normal = ~y
    labels_of_normal = [s.label for s, n in zip(scores, normal, strict=True) if n]
    out["normal_unusual_per_1000"] = 1000 * labels_of_normal.count("unusual") / normal.sum()
    out["normal_anomalous_per_1000"] = 1000 * labels_of_normal.count("anomalous") / normal.sum()
    top = int(np.argmax(values))
    out["top_explanation"] = (
        f"{test[top]['principal']['id']} {test[top]['action']}: " + scores[top].explanation
    )
    return out


def access_cost(seed: int = 0, batch: int = 500, rounds: int = 5) -> dict[str, float]:
    workload = generate_workload(seed=seed)
    history, test, _ = workload.split()
    base = ProfileStore()
    model = train_access_model(history, store=base, seed=seed)
    snapshot = {pid: p.to_dict() for pid, p in base.principals.items()}
    peers = {g: p.to_dict() for g, p in base.peers.items()}
    batches = [test[i : i + batch] for i in range(0, min(len(test), 20 * batch), batch)]
    results: dict[str, float] = {}

    def fresh_store() -> ProfileStore:
        from clearance.detectors import PeerProfile, PrincipalProfile

        store = ProfileStore()
        store.principals = {k: PrincipalProfile.from_dict(v) for k, v in snapshot.items()}
        store.peers = {k: PeerProfile.from_dict(v) for k, v in peers.items()}
        return store

    def timed(body: Callable[[ProfileStore, list[dict[str, Any]]], Any]) -> float:
        best = float("inf")
        for _ in range(rounds):
            store = fresh_store()
            started = time.process_time()
            for chunk in batches:
                body(store, chunk)
            best = min(best, time.process_time() - started)
        return best / sum(len(b) for b in batches) * 1e6

    def features(store: ProfileStore, chunk: list[dict[str, Any]]) -> Any:
        return store.replay_events(chunk).matrix

    results["features"] = timed(features)
    results["features + forest"] = timed(
        lambda store, chunk: model.score_samples(features(store, chunk))
    )
    results["features + forest + explanations"] = timed(
        lambda store, chunk: model.score_events(chunk, store)
    )
    forest_only = model.scorer.scorer.forest_
    X = features(fresh_store(), batches[0])
    best = float("inf")
    for _ in range(rounds * 4):
        started = time.process_time()
        forest_only.score_samples(X)
        best = min(best, time.process_time() - started)
    results["forest score_samples alone"] = best / len(X) * 1e6
    return results


# -- report -----------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few seeds, do not write the report")
    parser.add_argument("--seeds", type=int, default=200, help="seeds for change detection")
    args = parser.parse_args()
    seeds = 20 if args.quick else args.seeds
    concept_seeds = 8 if args.quick else 40
    access_seeds = [0] if args.quick else [0, 1, 2]
    started = time.perf_counter()
    machine = machine_line()
    print(machine)
    with ProcessPoolExecutor(max_workers=2) as pool:
        print("\n== change detection (delay median / p90 / missed; false alarms per 10k)")
        change_rows, summary = change_detection(pool, seeds)
        agreement = agreement_with_river(seeds)
        print(agreement)
        print("\n== concept drift streams (river generators, Hoeffding tree error stream)")
        concept_rows = concept_drift(pool, concept_seeds)
        print("\n== distribution tests")
        drift_rows = distribution_tests(pool, seeds)
        print("\n== unusual access")
        access = list(pool.map(access_on_seed, access_seeds))
    for result in access:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()})
    print("\n== cost")
    cost = access_cost()
    updates = update_cost()
    for name, value in cost.items():
        print(f"{name}: {value:.1f} us/event")
    for row in updates:
        print(f"{row[0]}: {row[1]} us/update")
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s")
    if args.quick:
        return 0
    REPORT.write_text(
        render(
            machine,
            change_rows,
            summary,
            agreement,
            concept_rows,
            drift_rows,
            access,
            cost,
            updates,
            elapsed,
            seeds,
            concept_seeds,
        ),
        encoding="utf-8",
    )
    print(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


def render(
    machine: str,
    change_rows: list[list[str]],
    summary: dict[str, Any],
    agreement: str,
    concept_rows: list[list[str]],
    drift_rows: list[list[str]],
    access: list[dict[str, Any]],
    cost: dict[str, float],
    updates: list[list[str]],
    elapsed: float,
    seeds: int,
    concept_seeds: int,
) -> str:
    ph = summary["PageHinkley (default: delta=0.1 sd, threshold=50 sd)"]
    adwin = summary["ADWIN delta=0.002 (default)"]
    adwin01 = summary["ADWIN delta=0.01"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def targets_for(stats: tuple[dict[str, DelayStats], dict[str, float], int]) -> list[str]:
        delay, fa, _ = stats
        g1, g05, b = delay["gauss 1 sd"], delay["gauss 0.5 sd"], delay["bernoulli 0.1->0.2"]
        worst_fa = max(fa.values())
        return [
            f"{g1.missed_pct:.1f}% missed, median {g1.median:.0f} "
            f"({verdict(g1.missed_pct == 0 and g1.median <= 100)})",
            f"0.5 sd: {g05.missed_pct:.1f}% missed, median {g05.median:.0f} "
            f"({verdict(g05.missed_pct <= 5 and g05.median <= 400)}); 0.1->0.2: "
            f"{b.missed_pct:.1f}% missed, median {b.median:.0f} "
            f"({verdict(b.missed_pct <= 5 and b.median <= 400)})",
            f"{worst_fa:.2f} ({verdict(worst_fa <= 1.0)})",
        ]

    aucs = [a["auc"] for a in access]
    p50s = [a["p50"] for a in access]
    flagged = sum(a["rule_flagged"] for a in access)
    total = sum(a["rule_total"] for a in access)
    access_rows = []
    for a in access:
        access_rows.append(
            [
                str(a["seed"]),
                f"{a['test_events']:,} ({a['incident_events']})",
                f"{a['auc']:.4f}",
                f"{a['p50']:.2f}",
                f"{a['auc_forest']:.4f} / {a['p50_forest']:.2f}",
                f"{a['auc_signals']:.4f} / {a['p50_signals']:.2f}",
                " / ".join(f"{a[f'auc_{k}']:.4f}" for k in INCIDENT_KINDS),
                f"{a['rule_flagged']}/{a['rule_total']} ({a['rule_incident']} in incidents)",
                f"{a['normal_unusual_per_1000']:.1f} / {a['normal_anomalous_per_1000']:.2f}",
            ]
        )
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    change_table = table(
        [
            "detector",
            "seeds",
            "gauss 1 sd",
            "gauss 0.5 sd",
            "bernoulli 0.1->0.2",
            "FA/10k gauss",
            "FA/10k bernoulli",
            "seconds",
        ],
        change_rows,
    )
    concept_table = table(
        ["stream", "detector", "seeds", "error rate", "delay / p90 / missed", "FA/10k before"],
        concept_rows,
    )
    drift_table = table(
        ["scenario", "windows", "PSI flags it", "KS / chi2 flags it", "others flagged"],
        drift_rows,
    )
    access_table = table(
        [
            "seed",
            "test events (incident)",
            "AUC",
            "p@50",
            "forest only AUC / p@50",
            "signals only AUC / p@50",
            "AUC " + " / ".join(INCIDENT_KINDS),
            "rule: flagged/total",
            "normal events labelled unusual / anomalous per 1000",
        ],
        access_rows,
    )
    cost_table = table(["step", "µs/event"], [[k, f"{v:.1f}"] for k, v in cost.items()])
    update_table = table(["detector", "µs/update"], updates)
    g_b = adwin[0]["bernoulli 0.1->0.2"]
    adwin_note = (
        f"ADWIN with its usual delta=0.002 misses the error-rate target: {g_b.missed_pct:.1f}% "
        f"missed (target 5 %) and a median delay of {g_b.median:.0f} (target 400). A doubling "
        "of a 0.1 error rate is a shift of a third of a standard deviation, and ADWIN's cut "
        "bound at that confidence needs a few hundred values after the change before a gap "
        "of 0.1 (variance 0.09) clears it, so the median delay sits near 400 and some runs "
        "outlast the 1000-value horizon. delta=0.01 meets the target at a false alarm rate "
        "still far below 1 per 10,000; Page-Hinkley, scale-free, meets every target with its "
        "defaults (the ModelMonitor uses Page-Hinkley too, set for sparse evaluations)."
        if g_b.missed_pct > 5 or g_b.median > 400
        else "ADWIN with delta=0.002 meets every target too."
    )
    t1, t05, tfa = targets_for(ph)
    a1, a05, afa = targets_for(adwin)
    _, b05, _ = targets_for(adwin01)
    seeds_text = ", ".join(str(a["seed"]) for a in access)
    targets_table = table(
        ["target", "measured"],
        [
            [
                "1 sd abrupt shift: never missed, median delay <= 100",
                f"PageHinkley: {t1}; ADWIN 0.002: {a1}",
            ],
            [
                "0.5 sd or error 0.1->0.2: missed <= 5 %, median delay <= 400",
                f"PageHinkley: {t05}; ADWIN 0.002: {a05}; ADWIN 0.01: {b05}",
            ],
            ["stationary: <= 1 false alarm per 10,000", f"PageHinkley: {tfa}; ADWIN 0.002: {afa}"],
            [
                "unusual access: ROC AUC >= 0.95",
                f"{', '.join(f'{v:.4f}' for v in aucs)} on workload seeds {seeds_text} "
                f"({verdict(min(aucs) >= 0.95)})",
            ],
            [
                "precision@50 >= 0.8",
                f"{', '.join(f'{v:.2f}' for v in p50s)} ({verdict(min(p50s) >= 0.8)})",
            ],
            [
                "every first sensitive access outside the peer group flagged",
                f"{flagged}/{total} ({verdict(flagged == total)})",
            ],
            [
                "per-event cost, batches of 500",
                f"{cost['features + forest']:.0f} µs (features + forest), "
                f"{cost['features + forest + explanations']:.0f} µs with explanations",
            ],
        ],
    )
    return f"""# Detectors: quality benchmark

Produced by `.venv/bin/python bench/detectors_quality.py` on {now} in {elapsed:.0f} s
(2 worker processes). Seeded generators; the script's docstring describes every stream and
workload. Machine: {machine}. The machine was shared with other work while this ran, so the
timing figures are best-of-several and may still be pessimistic; the quality figures do not
depend on timing.

## Targets

{targets_table}

{adwin_note}

## Change detection

Degradation-only mode (`alarm_on="increase"`) unless the name says otherwise. Cells are
delay median / p90 / missed (no alarm within 1000 values); false alarms per 10,000 values
on the stationary streams. Settings were chosen on seeds 10000+, these are seeds 0..{seeds - 1}.

{change_table}

ADWIN here is this package's implementation (JSON state, degradation-only mode); against
river's on the same streams: {agreement}; river's bound shrinks each sub-window by the
minimum window length, which makes it cut slightly earlier on the Bernoulli stream.
river's PageHinkley works in raw units (delta
0.005, threshold 50), so on a unit-variance stream it needs a much larger cumulative sum than
the scale-free version here and reacts later; it is listed to show why the scale-free form was
chosen, not as a tuned competitor.

Update cost (200,000 values, best of 3), µs per update:

{update_table}

river's ADWIN is compiled (Rust) and about ten times faster; this package's detectors are
pure Python because their state must be JSON plain data for the streaming tables. At a few µs
per update the difference does not matter for metric streams.

### Concept drift (river SEA / Agrawal, Hoeffding tree error stream)

Error rate is the mean over examples 1000-2000 -> 2000-2200. Delay / p90 / missed after the
concept change at example 2000; false alarms per 10,000 examples before it (the learner's
error falls while it learns, which degradation-only mode ignores).

{concept_table}

## Distribution tests (covariate shift)

Share of {seeds} windows where PSI (>= 0.2) and KS or chi-squared (Bonferroni, alpha 0.01
over 7 tests) flag the shifted feature, and where any other feature is flagged (false
positives of the whole comparison).

{drift_table}

PSI is a magnitude (0.2 sd of shift gives a PSI of about 0.04, "stable"; 5 points of
category share about 0.01). KS runs on the 500-value samples the distributions carry, so its
power at 0.2 sd is modest; chi-squared runs on the full 5000-row counts and finds the 5-point
move every time. The monitor reports both, so a person sees size and evidence.

## Unusual access

Workload: 28 days, about 50 principals (humans in five roles, AI support agents,
pipelines), 5 incidents of each kind in the last 7 days; trained on days 1-21, scored on
days 22-28 with `AccessModel.score_events` (profiles keep learning during the test period,
incidents included). AUC per kind is that kind's events against all normal events.

{access_table}

Highest-scoring event of seed {access[0]["seed"]}: {access[0]["top_explanation"]}

Cost (seed 0 model, 20 batches of 500 test events, best of 5 rounds), CPU µs per event:

{cost_table}

### Caveats

* The workload generator and the features were written together, with these four incident
  kinds in mind; the figures say the detectors do what they were designed to do on
  behaviour shaped like this, not how they will do on real traffic. Real histories have
  messier habits (shared accounts, re-orgs, batch jobs run by people) and the benign noise
  here (3 % exploration within the role, 1 % new sources, 5 % late sessions, two new
  joiners) is a guess.
* Later events of an incident are harder than its first ones because the profiles learn
  from every event, incidents included; the streaming layer may choose not to teach the
  profiles events it denied.
* The rule flags every first access to a sensitive resource outside the peer group,
  benign ones included (a role's first use of a resource no colleague has touched yet). In
  these workloads every such access in the test period belonged to an incident, because 21
  days of history cover each role's resources; a younger deployment will see benign ones,
  and they cost precision.
* Signals alone rank almost as well as the combination; the isolation forest alone is a
  little weaker. The forest earns its place on combinations no single signal names, which
  this generator rarely produces.
"""


if __name__ == "__main__":
    sys.exit(main())
