"""The evaluation report that `ecg-train` (on the held-out test beats) and `ecg-evaluate` share.

From scored, labelled beats, a threshold and the training normal beats' error statistics: the
metrics and confusion matrix, the table across thresholds, the plots and `thresholds.csv`.
No TensorFlow here: whatever scored the beats, the report is made the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.inference.artifact import Metrics, TrainingErrors
from training.evaluation import plots
from training.evaluation.metrics import (
    CHOSEN,
    AucLoss,
    ThresholdRow,
    auc_loss,
    evaluate,
    false_alarm_rate,
    format_auc_loss,
    format_metrics,
    format_threshold_table,
    k_rule,
    threshold_row_record,
    threshold_table,
    write_threshold_csv,
)
from training.fitting.thresholds import OperatingPoint

THRESHOLDS_CSV = "thresholds.csv"
MARKED_KS = (1.0, 2.0, 3.0)  # marked on the precision-recall curve, with the chosen threshold
COSTLIEST_BEATS = 5  # of each class, named in "where the ROC AUC is lost"


@dataclass(frozen=True)
class ScoredBeats:
    """Labelled beats as a model scored them; `beats` and `reconstructions` are normalised,
    `rows` the beats' 0-based rows in the data file."""

    errors: np.ndarray
    is_normal: np.ndarray
    beats: np.ndarray
    reconstructions: np.ndarray
    rows: np.ndarray


@dataclass(frozen=True)
class Report:
    scored: ScoredBeats
    threshold: float
    rule: str
    metrics: Metrics
    table: list[ThresholdRow]
    subject: str  # which beats, e.g. "the held-out test beats"
    heading: str  # of the printed tables, e.g. "held-out metrics"
    auc_loss: AucLoss


def build_report(
    scored: ScoredBeats,
    threshold: float,
    rule: str,
    training_errors: TrainingErrors,
    subject: str = "the held-out test beats",
    heading: str = "held-out metrics",
) -> Report:
    """`rule` says how `threshold` was chosen; both classes must be among the beats."""
    is_abnormal = ~scored.is_normal
    return Report(
        scored=scored,
        threshold=threshold,
        rule=rule,
        metrics=evaluate(scored.errors, is_abnormal, threshold),
        table=threshold_table(scored.errors, is_abnormal, training_errors, threshold),
        subject=subject,
        heading=heading,
        auc_loss=auc_loss(scored.errors, is_abnormal),
    )


def format_report(report: Report) -> str:
    return "\n".join(
        [
            f"threshold {report.threshold:.5f}: {report.rule}",
            format_metrics(report.metrics, report.threshold, report.heading),
            "",
            format_threshold_table(report.table, report.heading),
            "",
            format_auc_loss(report.auc_loss, report.scored.rows, COSTLIEST_BEATS),
        ]
    )


def save_report(report: Report, directory: Path) -> list[Path]:
    """Write the plots and `thresholds.csv` into `directory`; returns the paths written."""
    scored, is_abnormal = report.scored, ~report.scored.is_normal
    return [
        plots.plot_error_histogram(
            scored.errors,
            scored.is_normal,
            report.threshold,
            directory / plots.HISTOGRAM_PNG,
            report.subject,
        ),
        plots.plot_roc(
            scored.errors, is_abnormal, report.metrics.roc_auc, directory / plots.ROC_PNG
        ),
        plots.plot_precision_recall(
            scored.errors,
            is_abnormal,
            marked_points(report),
            directory / plots.PRECISION_RECALL_PNG,
        ),
        plots.plot_reconstructions(
            scored.beats,
            scored.reconstructions,
            scored.errors,
            scored.is_normal,
            report.threshold,
            directory / plots.RECONSTRUCTIONS_PNG,
        ),
        write_threshold_csv(report.table, directory / THRESHOLDS_CSV),
    ]


def marked_points(report: Report) -> list[tuple[str, OperatingPoint]]:
    """The chosen threshold first, then mean + k * std for `MARKED_KS`."""
    by_rule = {row.rule: row.point for row in report.table}
    marked = [("chosen threshold", by_rule[CHOSEN])]
    return marked + [(k_rule(k), by_rule[k_rule(k)]) for k in MARKED_KS]


def report_record(report: Report) -> dict[str, Any]:
    """The report's figures as JSON-ready data (for `report.json`)."""
    return {
        "threshold": report.threshold,
        "threshold_rule": report.rule,
        "metrics": {
            **report.metrics.model_dump(),
            "false_alarm_rate": false_alarm_rate(report.metrics),
        },
        "thresholds": [threshold_row_record(row) for row in report.table],
        "roc_auc_lost": auc_loss_record(report),
    }


def auc_loss_record(report: Report) -> dict[str, Any]:
    loss, rows = report.auc_loss, report.scored.rows

    def beats(abnormal: bool) -> list[dict[str, float | int]]:
        return [
            {"row": int(rows[i]) + 1, "error": float(loss.errors[i]), "pairs": float(loss.pairs[i])}
            for i in loss.costliest(abnormal, COSTLIEST_BEATS)
        ]

    return {
        "misordered_pairs": loss.misordered,
        "pairs": loss.total_pairs,
        "costliest_normal_beats": beats(abnormal=False),
        "costliest_abnormal_beats": beats(abnormal=True),
    }
