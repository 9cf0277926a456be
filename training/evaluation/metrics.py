"""Held-out evaluation with `abnormal` as the positive class: the metrics at one threshold, and
a table of the figures across thresholds (mean + k * std, percentiles, the chosen one)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from app.inference.artifact import ConfusionMatrix, Metrics, TrainingErrors
from training.fitting.thresholds import OperatingPoint, operating_point

TABLE_KS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
TABLE_PERCENTILES = ("95", "99", "99.5")
CHOSEN = "chosen"
CSV_COLUMNS = (
    "rule", "threshold", "precision", "recall", "f1", "accuracy", "false_alarm_rate",
    "true_positive", "false_positive", "false_negative", "true_negative",
)  # fmt: skip


def predict_abnormal(errors: np.ndarray, threshold: float) -> np.ndarray:
    """The service's rule: abnormal when the error is strictly above the threshold."""
    return errors > threshold


def evaluate(errors: np.ndarray, is_abnormal: np.ndarray, threshold: float) -> Metrics:
    """Metrics of the thresholded errors; ROC AUC comes from the raw error scores.

    Both classes must be present (ROC AUC is undefined otherwise).
    """
    predicted = predict_abnormal(errors, threshold)
    tn, fp, fn, tp = confusion_matrix(is_abnormal, predicted, labels=[False, True]).ravel()
    return Metrics(
        n_test=len(errors),
        accuracy=float(accuracy_score(is_abnormal, predicted)),
        precision=float(precision_score(is_abnormal, predicted, zero_division=0)),
        recall=float(recall_score(is_abnormal, predicted, zero_division=0)),
        f1=float(f1_score(is_abnormal, predicted, zero_division=0)),
        roc_auc=float(roc_auc_score(is_abnormal, errors)),
        confusion_matrix=ConfusionMatrix(
            true_negative=int(tn),
            false_positive=int(fp),
            false_negative=int(fn),
            true_positive=int(tp),
        ),
    )


def false_alarm_rate(metrics: Metrics) -> float:
    """The fraction of normal beats flagged abnormal."""
    cm = metrics.confusion_matrix
    normal = cm.true_negative + cm.false_positive
    return cm.false_positive / normal if normal else 0.0


def format_metrics(metrics: Metrics, threshold: float, heading: str = "held-out metrics") -> str:
    """A short aligned table, one figure per line, then the confusion matrix."""
    cm = metrics.confusion_matrix
    rows = [
        ("test beats", f"{metrics.n_test}"),
        ("threshold (MAE)", f"{threshold:.5f}"),
        ("accuracy", f"{metrics.accuracy:.4f}"),
        ("precision", f"{metrics.precision:.4f}"),
        ("recall", f"{metrics.recall:.4f}"),
        ("F1", f"{metrics.f1:.4f}"),
        ("false-alarm rate", f"{false_alarm_rate(metrics):.4f}"),
        ("ROC AUC", f"{metrics.roc_auc:.4f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{heading} (positive class: abnormal)"]
    lines += [f"  {name:<{width}}  {value:>8}" for name, value in rows]
    lines += [
        "  confusion matrix     predicted normal  predicted abnormal",
        f"    actual normal      {cm.true_negative:>16}  {cm.false_positive:>18}",
        f"    actual abnormal    {cm.false_negative:>16}  {cm.true_positive:>18}",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class ThresholdRow:
    rule: str
    point: OperatingPoint


def k_rule(k: float) -> str:
    return f"mean + {k:g} std"


def percentile_rule(percentile: str) -> str:
    return f"p{percentile}"


def threshold_table(
    errors: np.ndarray, is_abnormal: np.ndarray, training_errors: TrainingErrors, chosen: float
) -> list[ThresholdRow]:
    """The figures at mean + k * std (`TABLE_KS`) and at percentiles (`TABLE_PERCENTILES`) of the
    training normal beats' errors, then at the chosen threshold (last row, rule `chosen`)."""
    thresholds = [(k_rule(k), training_errors.mean_plus_k_std(k)) for k in TABLE_KS]
    thresholds += [
        (percentile_rule(p), training_errors.percentiles[p])
        for p in TABLE_PERCENTILES
        if p in training_errors.percentiles
    ]
    thresholds.append((CHOSEN, chosen))
    normal, abnormal = errors[~is_abnormal], errors[is_abnormal]
    return [ThresholdRow(rule, operating_point(normal, abnormal, t)) for rule, t in thresholds]


def format_threshold_table(rows: list[ThresholdRow], heading: str = "held-out metrics") -> str:
    width = max(len(row.rule) for row in rows)
    header = (
        f"  {'rule':<{width}}  threshold  precision  recall      F1  accuracy  false-alarm rate"
    )
    lines = [f"{heading} across thresholds (of the training normal beats' MAE)", header]
    for row in rows:
        p = row.point
        lines.append(
            f"  {row.rule:<{width}}  {p.threshold:>9.5f}  {p.precision:>9.4f}  {p.recall:>6.4f}"
            f"  {p.f1:>6.4f}  {p.accuracy:>8.4f}  {p.false_alarm_rate:>16.4f}"
        )
    return "\n".join(lines)


def threshold_row_record(row: ThresholdRow) -> dict[str, str | float | int]:
    p = row.point
    values = (
        row.rule, p.threshold, p.precision, p.recall, p.f1, p.accuracy, p.false_alarm_rate,
        p.true_positive, p.false_positive, p.false_negative, p.true_negative,
    )  # fmt: skip
    return dict(zip(CSV_COLUMNS, values, strict=True))


def write_threshold_csv(rows: list[ThresholdRow], path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(threshold_row_record(row) for row in rows)
    return path


@dataclass(frozen=True)
class AucLoss:
    """Where the ROC AUC is lost. 1 - AUC is the share of (normal, abnormal) pairs the errors
    misorder (a tie counts half); each beat's `pairs` are the misordered pairs it is in, so the
    normal beats' pairs and the abnormal beats' each sum to the whole loss."""

    errors: np.ndarray
    is_abnormal: np.ndarray
    pairs: np.ndarray

    @property
    def total_pairs(self) -> int:
        n_abnormal = int(self.is_abnormal.sum())
        return n_abnormal * (len(self.errors) - n_abnormal)

    @property
    def misordered(self) -> float:
        return float(self.pairs[~self.is_abnormal].sum())

    @property
    def lost(self) -> float:
        """1 - ROC AUC."""
        return self.misordered / self.total_pairs

    def costliest(self, abnormal: bool, n: int) -> np.ndarray:
        """Positions of the `n` beats of the class that are in the most misordered pairs."""
        candidates = np.flatnonzero(self.is_abnormal == abnormal)
        order = np.argsort(-self.pairs[candidates], kind="stable")
        return candidates[order[:n]]

    def share(self, positions: np.ndarray) -> float:
        """The fraction of the loss the pairs of these beats (all of one class) make up."""
        return float(self.pairs[positions].sum() / self.misordered) if self.misordered else 0.0


def auc_loss(errors: np.ndarray, is_abnormal: np.ndarray) -> AucLoss:
    normal = np.sort(errors[~is_abnormal])
    abnormal = np.sort(errors[is_abnormal])
    pairs = np.empty(len(errors))
    # a normal beat misorders the abnormal beats scored below it; an abnormal one, the normal
    # beats scored above it
    below = np.searchsorted(abnormal, errors, "left")
    tied_abnormal = np.searchsorted(abnormal, errors, "right") - below
    above = len(normal) - np.searchsorted(normal, errors, "right")
    tied_normal = np.searchsorted(normal, errors, "right") - np.searchsorted(normal, errors, "left")
    pairs[~is_abnormal] = (below + tied_abnormal / 2)[~is_abnormal]
    pairs[is_abnormal] = (above + tied_normal / 2)[is_abnormal]
    return AucLoss(errors, is_abnormal, pairs)


def format_auc_loss(loss: AucLoss, rows: np.ndarray, top: int = 5) -> str:
    """Which beats the lost ROC AUC comes from; `rows` are their 0-based rows in the data."""
    lines = [
        f"where the ROC AUC is lost: {_pairs(loss.misordered)} of {loss.total_pairs:,} "
        f"(normal, abnormal) pairs misordered (1 - ROC AUC = {loss.lost:.4f})"
    ]
    for abnormal, kind, scored in ((False, "normal", "highest"), (True, "abnormal", "lowest")):
        costliest = loss.costliest(abnormal, top)
        beats = "beat" if len(costliest) == 1 else "beats"
        share = loss.share(costliest)
        lines.append(f"  the {len(costliest)} {kind} {beats} scored {scored}: {share:.0%} of it")
        for i in costliest:
            pairs = _pairs(loss.pairs[i])
            lines.append(f"    row {rows[i] + 1:>6}  error {loss.errors[i]:.5f}  {pairs:>5} pairs")
    return "\n".join(lines)


def _pairs(count: float) -> str:
    """A count of pairs: whole, or with the half a tie adds."""
    return f"{count:,.0f}" if count == int(count) else f"{count:,.1f}"
