"""Held-out evaluation with `abnormal` as the positive class, and its printed table."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from app.artifact import ConfusionMatrix, Metrics


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


def format_metrics(metrics: Metrics, threshold: float) -> str:
    """A short aligned table, one figure per line, then the confusion matrix."""
    cm = metrics.confusion_matrix
    rows = [
        ("test beats", f"{metrics.n_test}"),
        ("threshold (MAE)", f"{threshold:.5f}"),
        ("accuracy", f"{metrics.accuracy:.4f}"),
        ("precision", f"{metrics.precision:.4f}"),
        ("recall", f"{metrics.recall:.4f}"),
        ("F1", f"{metrics.f1:.4f}"),
        ("ROC AUC", f"{metrics.roc_auc:.4f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["held-out metrics (positive class: abnormal)"]
    lines += [f"  {name:<{width}}  {value:>8}" for name, value in rows]
    lines += [
        "  confusion matrix     predicted normal  predicted abnormal",
        f"    actual normal      {cm.true_negative:>16}  {cm.false_positive:>18}",
        f"    actual abnormal    {cm.false_negative:>16}  {cm.true_positive:>18}",
    ]
    return "\n".join(lines)
