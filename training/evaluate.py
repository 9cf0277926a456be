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
from training.thresholds import OperatingPoint, operating_point

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
