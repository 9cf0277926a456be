"""Training on several random 80/20 splits, to show how much the held-out figures vary.

Split 1 is the reference protocol's (random_state 21) with the configured seed: with the default
configuration it is exactly the run of `ecg-train`. Split i > 1 uses random_state = seed =
seed_base + i - 2, skipping the reference random_state. Each split is trained from scratch with
`training.fitting.train.train` and scored by the trained Keras model (nothing is exported).

Per split: accuracy, precision, recall, F1 and ROC AUC at the configured threshold rule, and the
test accuracy at the max-F1 threshold calibrated on the split's own training part. Then the mean
and the sample standard deviation (ddof 1) over the splits.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.config import TrainConfig
from training.data.sources import Dataset
from training.evaluation.metrics import evaluate
from training.fitting.thresholds import calibrated_threshold, operating_point

if TYPE_CHECKING:
    from training.fitting.train import TrainingResult

MULTI_SPLIT_CSV = "multi_split.csv"
MULTI_SPLIT_JSON = "multi_split.json"
SUMMARISED = ("accuracy", "precision", "recall", "f1", "roc_auc", "calibrated_accuracy")
HEADINGS = {
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "calibrated_accuracy": "calibrated (max-F1) accuracy",
}


@dataclass(frozen=True)
class SplitPlan:
    split: int
    random_state: int
    seed: int


@dataclass(frozen=True)
class SplitResult:
    split: int
    random_state: int
    seed: int
    epochs_run: int
    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    calibrated_threshold: float
    calibrated_accuracy: float
    seconds: float


@dataclass(frozen=True)
class Summary:
    mean: dict[str, float]
    std: dict[str, float]


def plan_splits(n: int, seed_base: int, reference: TrainConfig) -> list[SplitPlan]:
    """The reference split first, then `n - 1` others (see the module docstring)."""
    plans = [SplitPlan(1, reference.split_random_state, reference.seed)]
    state = seed_base
    while len(plans) < n:
        if state != reference.split_random_state:
            plans.append(SplitPlan(len(plans) + 1, state, state))
        state += 1
    return plans


def plan_seeds(n: int, reference: TrainConfig) -> list[SplitPlan]:
    """The reference split `n` times, trained from seeds seed, seed + 1, ...: how much the
    figures owe to the initial weights alone."""
    state = reference.split_random_state
    return [SplitPlan(index + 1, state, reference.seed + index) for index in range(n)]


def split_result(plan: SplitPlan, result: TrainingResult) -> SplitResult:
    split, calibration = result.split, result.calibration
    metrics = evaluate(result.test_errors, ~split.test_is_normal, result.threshold)
    calibrated = calibrated_threshold(
        calibration.normal_errors,
        calibration.abnormal_errors,
        "max_f1",
    )
    test_normal = result.test_errors[split.test_is_normal]
    test_abnormal = result.test_errors[~split.test_is_normal]
    return SplitResult(
        split=plan.split,
        random_state=plan.random_state,
        seed=plan.seed,
        epochs_run=result.epochs_run,
        threshold=result.threshold,
        accuracy=metrics.accuracy,
        precision=metrics.precision,
        recall=metrics.recall,
        f1=metrics.f1,
        roc_auc=metrics.roc_auc,
        calibrated_threshold=calibrated.threshold,
        calibrated_accuracy=operating_point(
            test_normal, test_abnormal, calibrated.threshold
        ).accuracy,
        seconds=result.seconds,
    )


def run_splits(
    dataset: Dataset,
    config: TrainConfig,
    plans: list[SplitPlan],
    log: Callable[[str], None] | None = None,
) -> list[SplitResult]:
    from training.fitting.train import train  # TensorFlow, only when training

    results = []
    for plan in plans:
        planned = replace(config, split_random_state=plan.random_state, seed=plan.seed)
        results.append(split_result(plan, train(dataset, planned)))
        if log is not None:
            log(progress_line(results[-1], len(plans)))
    return results


def progress_line(row: SplitResult, n: int) -> str:
    return (
        f"split {row.split}/{n} (random_state {row.random_state}, seed {row.seed}): "
        f"{row.epochs_run} epochs, accuracy {row.accuracy:.4f}, F1 {row.f1:.4f}, "
        f"ROC AUC {row.roc_auc:.4f}, calibrated accuracy {row.calibrated_accuracy:.4f} "
        f"({row.seconds:.1f}s)"
    )


def summarise(rows: list[SplitResult]) -> Summary:
    """Mean and sample standard deviation (ddof 1) of each figure in `SUMMARISED`."""
    if len(rows) < 2:
        raise ValueError("a standard deviation over splits needs at least 2 splits")
    columns = {name: np.array([getattr(row, name) for row in rows]) for name in SUMMARISED}
    return Summary(
        mean={name: float(np.mean(values)) for name, values in columns.items()},
        std={name: float(np.std(values, ddof=1)) for name, values in columns.items()},
    )


def markdown_table(rows: list[SplitResult], summary: Summary) -> str:
    header = ["split", "random_state", "seed", "epochs", *(HEADINGS[n] for n in SUMMARISED)]
    lines = [_markdown_row(header), _markdown_row(["---"] * len(header))]
    for row in rows:
        figures = [f"{getattr(row, name):.4f}" for name in SUMMARISED]
        ids = [str(row.split), str(row.random_state), str(row.seed), str(row.epochs_run)]
        lines.append(_markdown_row([*ids, *figures]))
    spread = [f"{summary.mean[n]:.4f} ± {summary.std[n]:.4f}" for n in SUMMARISED]
    lines.append(_markdown_row([f"**mean ± std** (n = {len(rows)})", "", "", "", *spread]))
    return "\n".join(lines)


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_csv(rows: list[SplitResult], summary: Summary, path: Path) -> Path:
    """One line per split, then the lines `mean` and `std` (in the split column)."""
    columns = [field.name for field in fields(SplitResult)]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
        writer.writerow({"split": "mean", **summary.mean})
        writer.writerow({"split": "std", **summary.std})
    return path


def write_json(
    rows: list[SplitResult], summary: Summary, details: dict[str, Any], path: Path
) -> Path:
    record = {
        **details,
        "splits": [asdict(row) for row in rows],
        "mean": summary.mean,
        "std": summary.std,
        "std_ddof": 1,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
