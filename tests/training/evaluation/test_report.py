"""The report shared by ecg-train and ecg-evaluate: the table across thresholds and its files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app.inference.artifact import TrainingErrors, read_metadata
from training.evaluation.metrics import (
    CSV_COLUMNS,
    auc_loss,
    format_auc_loss,
    format_threshold_table,
    threshold_table,
    write_threshold_csv,
)
from training.evaluation.plots import plot_precision_recall
from training.evaluation.report import THRESHOLDS_CSV
from training.fitting.thresholds import operating_point

STATS = TrainingErrors(
    n=100, mean=0.25, std=0.125, percentiles={"50": 0.2, "95": 0.5, "99": 0.625, "99.5": 0.75}
)
EXPECTED_RULES = [
    "mean + 0.5 std", "mean + 1 std", "mean + 1.5 std", "mean + 2 std", "mean + 2.5 std",
    "mean + 3 std", "mean + 4 std", "mean + 5 std", "p95", "p99", "p99.5", "chosen",
]  # fmt: skip


@pytest.fixture
def labelled_errors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    errors = np.concatenate([rng.uniform(0.1, 0.6, 60), rng.uniform(0.4, 1.0, 40)])
    return errors, np.arange(100) >= 60


def test_threshold_table_lists_k_percentiles_and_the_chosen_threshold_last(
    labelled_errors: tuple[np.ndarray, np.ndarray],
) -> None:
    rows = threshold_table(*labelled_errors, STATS, chosen=0.3)
    assert [row.rule for row in rows] == EXPECTED_RULES
    thresholds = [row.point.threshold for row in rows]
    ks = [0.5, 1, 1.5, 2, 2.5, 3, 4, 5]
    assert thresholds[:8] == [0.25 + k * 0.125 for k in ks]
    assert thresholds[8:] == [0.5, 0.625, 0.75, 0.3]


def test_threshold_table_figures_are_the_verdicts_at_each_threshold(
    labelled_errors: tuple[np.ndarray, np.ndarray],
) -> None:
    errors, is_abnormal = labelled_errors
    for row in threshold_table(errors, is_abnormal, STATS, chosen=0.3):
        flagged = errors > row.point.threshold
        assert row.point.true_positive == np.sum(flagged & is_abnormal)
        assert row.point.false_positive == np.sum(flagged & ~is_abnormal)
        assert row.point.false_alarm_rate == np.mean(flagged[~is_abnormal])
        assert row.point.recall == np.mean(flagged[is_abnormal])
        assert row.point.accuracy == np.mean(flagged == is_abnormal)


def test_threshold_table_skips_percentiles_the_statistics_lack(
    labelled_errors: tuple[np.ndarray, np.ndarray],
) -> None:
    stats = STATS.model_copy(update={"percentiles": {"99": 0.625}})
    rules = [row.rule for row in threshold_table(*labelled_errors, stats, chosen=0.3)]
    assert rules[8:] == ["p99", "chosen"]


def test_threshold_table_prints_aligned(labelled_errors: tuple[np.ndarray, np.ndarray]) -> None:
    text = format_threshold_table(threshold_table(*labelled_errors, STATS, chosen=0.3))
    lines = text.splitlines()[1:]
    assert len(lines) == 1 + len(EXPECTED_RULES)
    assert len({len(line) for line in lines}) == 1, text
    assert "false-alarm rate" in lines[0]


def test_threshold_csv_holds_every_row_at_full_precision(
    labelled_errors: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    rows = threshold_table(*labelled_errors, STATS, chosen=0.3)
    path = write_threshold_csv(rows, tmp_path / THRESHOLDS_CSV)
    with path.open() as handle:
        records = list(csv.DictReader(handle))
    assert tuple(records[0]) == CSV_COLUMNS
    assert [record["rule"] for record in records] == EXPECTED_RULES
    for record, row in zip(records, rows, strict=True):
        assert float(record["threshold"]) == row.point.threshold
        assert float(record["f1"]) == row.point.f1
        assert int(record["false_positive"]) == row.point.false_positive


def test_exported_thresholds_csv_agrees_with_the_recorded_metrics(tiny_model_dir: Path) -> None:
    metadata = read_metadata(tiny_model_dir)  # also checks the csv against its listed sha256
    assert THRESHOLDS_CSV in metadata.files
    with (tiny_model_dir / THRESHOLDS_CSV).open() as handle:
        records = {record["rule"]: record for record in csv.DictReader(handle)}
    chosen, metrics = records["chosen"], metadata.metrics
    assert float(chosen["threshold"]) == metadata.threshold
    assert float(chosen["accuracy"]) == metrics.accuracy
    assert float(chosen["precision"]) == metrics.precision
    assert float(chosen["recall"]) == metrics.recall
    assert int(chosen["true_positive"]) == metrics.confusion_matrix.true_positive
    k1 = float(records["mean + 1 std"]["threshold"])
    assert k1 == metadata.training_errors.mean_plus_k_std(1)
    assert json.loads((tiny_model_dir / "metadata.json").read_text())["files"][THRESHOLDS_CSV]


def test_precision_recall_plot_takes_arrays(
    labelled_errors: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    errors, is_abnormal = labelled_errors
    point = operating_point(errors[~is_abnormal], errors[is_abnormal], 0.5)
    path = plot_precision_recall(errors, is_abnormal, [("chosen", point)], tmp_path / "pr.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_auc_loss_splits_one_minus_roc_auc_over_the_beats_ties_counting_half(
    labelled_errors: tuple[np.ndarray, np.ndarray],
) -> None:
    errors, is_abnormal = labelled_errors
    errors = errors.round(1)  # plenty of ties between the classes
    loss = auc_loss(errors, is_abnormal)
    assert loss.lost == pytest.approx(1 - roc_auc_score(is_abnormal, errors))
    assert loss.pairs[is_abnormal].sum() == pytest.approx(loss.misordered)
    worst_normal = loss.costliest(abnormal=False, n=1)[0]
    assert not is_abnormal[worst_normal]
    assert errors[worst_normal] == errors[~is_abnormal].max()
    assert loss.share(np.flatnonzero(~is_abnormal)) == pytest.approx(1.0)


def test_auc_loss_names_the_costliest_beats_by_their_row_in_the_data() -> None:
    errors = np.array([0.1, 0.2, 0.9, 0.5, 0.6, 0.2])
    is_abnormal = np.array([False, False, False, True, True, True])
    rows = np.array([10, 11, 12, 13, 14, 15])
    text = format_auc_loss(auc_loss(errors, is_abnormal), rows, top=1)
    # the normal beat at 0.9 is above all three abnormal ones (3 pairs), the one at 0.2 ties one
    assert "3.5 of 9 (normal, abnormal) pairs misordered (1 - ROC AUC = 0.3889)" in text
    assert "the 1 normal beat scored highest: 86% of it" in text
    lines = text.splitlines()
    assert lines[2].split() == ["row", "13", "error", "0.90000", "3", "pairs"]
