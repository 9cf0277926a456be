"""The leaderboard: every autoencoder family, and PCA as the non-deep baseline, trained and scored
on the same random 80/20 splits and seeds (`training.evaluation.multi_split.plan_splits`), side
by side.

Per entry and split: ROC AUC; accuracy and recall (of the abnormal beats) at the threshold
mean + 1·std of the training normal beats' errors; accuracy at the max-F1 threshold calibrated on
the split's training part (as in `training.evaluation.multi_split`); accuracy at mean + 1·std
when the test beats are cut again 0, 2 and 4 recording samples later
(`training.data.augment.recut`); accuracy at mean + 1·std of the beats the service's recording
path finds in a strip of the test beats (`training.evaluation.strip`; not for PCA, which has no
model directory); training time; model size (parameters and ONNX bytes); and
in-process scoring speed (ONNX Runtime, one thread, 1,000-beat batches; PCA is timed as the numpy
matrix product it is). Then mean ± sample std (ddof 1) over the splits.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from app.inference.artifact import ONNX_FILE
from app.inference.scoring import (
    load_scorer,
    mean_absolute_error,
    normalise,
    prepare_beats,
)
from app.inference.scoring import operating_point as model_operating_point
from app.inputs.problems import BadRequest
from training.config import (
    LEADERBOARD_ENTRIES,
    MIX_SEPARATOR,
    PCA_ENTRY,
    ArchitectureName,
    ModelConfig,
    TrainConfig,
)
from training.data.augment import EVALUATED_SHIFTS, recut
from training.data.sources import Dataset
from training.data.split import Split, hold_out_indices, split_reference
from training.evaluation.metrics import evaluate
from training.evaluation.multi_split import SplitPlan
from training.evaluation.strip import score_strip
from training.fitting.thresholds import (
    calibrated_threshold,
    mean_plus_k_std_threshold,
    operating_point,
)

if TYPE_CHECKING:  # training.fitting.train imports TensorFlow, which only the fitting needs
    from training.fitting.train import CalibrationSlice

PCA_COMPONENTS = 4
LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_MD = "leaderboard.md"
LEADERBOARD_PNG = "leaderboard.png"
SPEED_BATCH = 1000
SPEED_REPEATS = 20

ErrorsOf = Callable[[np.ndarray], np.ndarray]  # raw beats -> their MAE, as the service scores them


@dataclass(frozen=True)
class EntryRun:
    """One entry on one split: what was measured."""

    entry: str
    split: int
    random_state: int
    seed: int
    epochs_run: int
    roc_auc: float
    accuracy: float
    recall: float
    calibrated_accuracy: float
    accuracy_shift_0: float
    accuracy_shift_2: float
    accuracy_shift_4: float
    accuracy_strip: float  # NaN for PCA
    train_seconds: float
    parameters: int
    onnx_bytes: int
    beats_per_second: float


SUMMARISED = (
    "roc_auc", "accuracy", "recall", "calibrated_accuracy", "accuracy_shift_0", "accuracy_shift_2",
    "accuracy_shift_4", "accuracy_strip", "train_seconds", "parameters", "onnx_bytes",
    "beats_per_second",
)  # fmt: skip
HEADINGS = {
    "roc_auc": "ROC AUC",
    "accuracy": "accuracy (mean + 1·std)",
    "recall": "recall",
    "calibrated_accuracy": "calibrated accuracy",
    "accuracy_shift_0": "accuracy, shift 0",
    "accuracy_shift_2": "shift 2",
    "accuracy_shift_4": "shift 4",
    "accuracy_strip": "strip",
    "train_seconds": "training s",
    "parameters": "parameters",
    "onnx_bytes": "ONNX bytes",
    "beats_per_second": "scoring beats/s",
}


@dataclass(frozen=True)
class Scored:
    """What an entry gives on a split, whatever it is: how it scores raw beats, and its errors."""

    errors_of: ErrorsOf
    threshold: float
    test_errors: np.ndarray
    calibration: CalibrationSlice  # the labelled beats its calibrated threshold is chosen on
    strip_accuracy: float
    epochs_run: int
    train_seconds: float
    parameters: int
    onnx_bytes: int
    beats_per_second: float


def run_leaderboard(
    dataset: Dataset,
    config: TrainConfig,
    plans: Sequence[SplitPlan],
    entries: Sequence[str] = LEADERBOARD_ENTRIES,
    log: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> list[EntryRun]:
    """Every entry on every split, in split then entry order (each family with `config`'s
    options, at the threshold mean + 1·std whatever rule `config` names).

    With `jobs` > 1 the runs share out over that many worker processes of one thread each: the
    small networks gain little from a second thread, so on N cores N jobs finish sooner. Every run
    seeds itself, so the figures are those of `jobs` 1 (the timings aside).
    """
    tasks = [(entry, plan, planned_config(config, plan)) for plan in plans for entry in entries]

    def done(run: EntryRun) -> EntryRun:
        if log is not None:
            log(progress_line(run, len(plans)))
        return run

    if jobs == 1:
        return [done(measure(entry, plan, dataset, planned)) for entry, plan, planned in tasks]
    context = multiprocessing.get_context("spawn")  # TensorFlow does not survive a fork
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_one_thread) as pool:
        futures = [
            pool.submit(measure, entry, plan, dataset, planned) for entry, plan, planned in tasks
        ]
        for future in as_completed(futures):
            done(future.result())
        return [future.result() for future in futures]


def planned_config(config: TrainConfig, plan: SplitPlan) -> TrainConfig:
    return replace(
        config,
        split_random_state=plan.random_state,
        seed=plan.seed,
        threshold_rule="mean-std",
        threshold_k=1.0,
    )


def _one_thread() -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def measure(entry: str, plan: SplitPlan, dataset: Dataset, config: TrainConfig) -> EntryRun:
    split = split_reference(dataset, config.test_size, config.split_random_state)
    if entry == PCA_ENTRY:
        scored = score_pca(dataset, config)
    else:
        scored = score_family(dataset, replace(config, model=entry_model(entry, config.model)))
    is_abnormal = ~split.test_is_normal
    metrics = evaluate(scored.test_errors, is_abnormal, scored.threshold)
    calibrated = calibrated_threshold(
        scored.calibration.normal_errors, scored.calibration.abnormal_errors, "max_f1"
    ).threshold
    test_normal = scored.test_errors[split.test_is_normal]
    test_abnormal = scored.test_errors[is_abnormal]
    shifted = {
        shift: shifted_accuracy(scored, split.test_beats, is_abnormal, shift)
        for shift in EVALUATED_SHIFTS
    }
    return EntryRun(
        entry=entry,
        split=plan.split,
        random_state=plan.random_state,
        seed=plan.seed,
        epochs_run=scored.epochs_run,
        roc_auc=metrics.roc_auc,
        accuracy=metrics.accuracy,
        recall=metrics.recall,
        calibrated_accuracy=operating_point(test_normal, test_abnormal, calibrated).accuracy,
        accuracy_shift_0=shifted[0],
        accuracy_shift_2=shifted[2],
        accuracy_shift_4=shifted[4],
        accuracy_strip=scored.strip_accuracy,
        train_seconds=scored.train_seconds,
        parameters=scored.parameters,
        onnx_bytes=scored.onnx_bytes,
        beats_per_second=scored.beats_per_second,
    )


def entry_model(entry: str, model: ModelConfig) -> ModelConfig:
    """The entry's family, or its mix's ("sparse+denoising"), with the run's other settings and
    its number of autoencoders per family."""
    names = cast(tuple[ArchitectureName, ...], tuple(entry.split(MIX_SEPARATOR)))
    per_family = model.ensemble_size // len(model.families)
    mix = names if len(names) > 1 else ()
    return replace(model, architecture=names[0], ensemble_size=per_family * len(names), mix=mix)


def shifted_accuracy(
    scored: Scored, test_beats: np.ndarray, is_abnormal: np.ndarray, shift: int
) -> float:
    """Accuracy at the entry's threshold on the test beats cut again `shift` samples later."""
    errors = scored.errors_of(recut(test_beats, shift))
    return float(np.mean((errors > scored.threshold) == is_abnormal))


def score_family(dataset: Dataset, config: TrainConfig) -> Scored:
    """Train the family (`training.fitting.train.train`), export it, score a strip of its test
    beats through the recording path, and time its ONNX model."""
    from training.artifacts.export import export_model
    from training.fitting.train import train

    result = train(dataset, config)
    norm = result.normalisation
    with tempfile.TemporaryDirectory(prefix="ecg-leaderboard-") as directory:
        model_dir = Path(directory) / "model"
        export_model(result, model_dir)
        path = model_dir / ONNX_FILE
        onnx_bytes = path.stat().st_size
        speed = onnx_beats_per_second(path, normalise(result.split.test_beats, norm))
        strip_accuracy = strip_accuracy_of(model_dir, result.split)
    return Scored(
        errors_of=result.errors,
        threshold=result.threshold,
        test_errors=result.test_errors,
        calibration=result.calibration,
        strip_accuracy=strip_accuracy,
        epochs_run=result.epochs_run,
        train_seconds=result.seconds,
        parameters=int(result.model.count_params()),
        onnx_bytes=onnx_bytes,
        beats_per_second=speed,
    )


def strip_accuracy_of(model_dir: Path, split: Split) -> float:
    """Accuracy at the model's threshold of the beats found in a strip of the test beats; NaN
    where the recording path finds no beats to score (beats unlike an ECG's, as in tests)."""
    scorer = load_scorer(model_dir)
    point = model_operating_point(scorer.metadata)
    try:
        strip = score_strip(split.test_beats, ~split.test_is_normal, scorer, point)
    except BadRequest:
        return float("nan")
    return strip.accuracy(point.threshold)


def onnx_beats_per_second(path: Path, beats: np.ndarray) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batch = np.resize(beats, (SPEED_BATCH, beats.shape[1])).astype(np.float32)
    return best_rate(lambda: session.run(None, {name: batch}))


def best_rate(call: Callable[[], object]) -> float:
    """Beats per second of the fastest of `SPEED_REPEATS` calls on a `SPEED_BATCH` batch."""
    call()  # warm-up
    best = float("inf")
    for _ in range(SPEED_REPEATS):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return SPEED_BATCH / best


def score_pca(dataset: Dataset, config: TrainConfig) -> Scored:
    """PCA with `PCA_COMPONENTS` components, fitted where an autoencoder would be: on the same
    normalised normal training beats minus the same validation slice."""
    from sklearn.decomposition import PCA

    from training.fitting.train import (
        alignment_of,
        calibration_slice,
        fit_normalisation,
        smoothing_of,
        threshold_beats,
    )

    started = time.perf_counter()
    split = split_reference(dataset, config.test_size, config.split_random_state)
    normal_train = split.train_beats[split.train_is_normal]
    norm = fit_normalisation(normal_train)
    normal_x = normalise(normal_train, norm)
    fit, _ = hold_out_indices(len(normal_x), config.validation_fraction, config.seed)
    pca = PCA(n_components=PCA_COMPONENTS, random_state=config.seed).fit(normal_x[fit])
    components = pca.components_.astype(np.float32)
    mean = pca.mean_.astype(np.float32)

    def reconstruct(normalised: np.ndarray) -> np.ndarray:
        return ((normalised - mean) @ components.T) @ components + mean

    smoothing = smoothing_of(config)
    alignment = alignment_of(config, normal_x[fit], smoothing)

    def errors_of(beats: np.ndarray) -> np.ndarray:
        prepared = prepare_beats(beats, norm, smoothing, alignment)[0]
        return mean_absolute_error(prepared, reconstruct(prepared))

    train_errors = errors_of(normal_train)
    threshold = mean_plus_k_std_threshold(errors_of(threshold_beats(normal_train, config)), 1.0)
    seconds = time.perf_counter() - started
    batch = np.resize(normalise(split.test_beats, norm), (SPEED_BATCH, dataset.beats.shape[1]))
    return Scored(
        errors_of=errors_of,
        threshold=threshold,
        test_errors=errors_of(split.test_beats),
        calibration=calibration_slice(errors_of, split, train_errors),
        strip_accuracy=float("nan"),
        epochs_run=0,
        train_seconds=seconds,
        parameters=int(components.size + mean.size),
        onnx_bytes=0,
        beats_per_second=best_rate(lambda: reconstruct(batch)),
    )


def progress_line(run: EntryRun, n_splits: int) -> str:
    return (
        f"split {run.split}/{n_splits} (random_state {run.random_state}, seed {run.seed}) "
        f"{run.entry}: ROC AUC {run.roc_auc:.4f}, accuracy {run.accuracy:.4f} (recall "
        f"{run.recall:.4f}), calibrated {run.calibrated_accuracy:.4f}, shifts 0/2/4 "
        f"{run.accuracy_shift_0:.3f}/{run.accuracy_shift_2:.3f}/{run.accuracy_shift_4:.3f}, "
        f"strip {run.accuracy_strip:.3f}, "
        f"{run.epochs_run} epochs in {run.train_seconds:.1f}s"
    )


@dataclass(frozen=True)
class EntrySummary:
    entry: str
    n_splits: int
    mean: dict[str, float]
    std: dict[str, float]
    worst_roc_auc: float


def summarise(runs: Sequence[EntryRun]) -> list[EntrySummary]:
    """Per entry, in the order first seen: mean and sample std (ddof 1) over its splits."""
    summaries = []
    for entry in dict.fromkeys(run.entry for run in runs):
        own = [run for run in runs if run.entry == entry]
        columns = {
            name: np.array([getattr(run, name) for run in own], float) for name in SUMMARISED
        }
        summaries.append(
            EntrySummary(
                entry=entry,
                n_splits=len(own),
                mean={name: _mean(values) for name, values in columns.items()},
                std={name: _std(values) for name, values in columns.items()},
                worst_roc_auc=float(columns["roc_auc"].min()),
            )
        )
    return summaries


def _mean(values: np.ndarray) -> float:
    """Over the splits it was measured on (NaN: on none)."""
    measured = values[~np.isnan(values)]
    return float(measured.mean()) if len(measured) else float("nan")


def _std(values: np.ndarray) -> float:
    measured = values[~np.isnan(values)]
    if not len(measured):
        return float("nan")
    return float(measured.std(ddof=1)) if len(measured) > 1 else 0.0


def markdown_table(summaries: Sequence[EntrySummary]) -> str:
    """One row per entry: mean ± std of each figure (quality to 4 places, costs rounded)."""
    header = ["entry", *(HEADINGS[name] for name in SUMMARISED), "lowest ROC AUC"]
    lines = [_row(header), _row(["---"] * len(header))]
    for summary in summaries:
        cells = [_cell(summary, name) for name in SUMMARISED]
        lines.append(_row([summary.entry, *cells, f"{summary.worst_roc_auc:.4f}"]))
    return "\n".join(lines)


def _cell(summary: EntrySummary, name: str) -> str:
    mean, std = summary.mean[name], summary.std[name]
    if np.isnan(mean):  # not measured for this entry
        return "—"
    if name in ("parameters", "onnx_bytes"):  # the same on every split
        return f"{mean:,.0f}"
    if name in ("train_seconds", "beats_per_second"):
        return f"{mean:,.0f} ± {std:,.0f}"
    return f"{mean:.4f} ± {std:.4f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_outputs(runs: Sequence[EntryRun], details: dict[str, Any], directory: Path) -> list[Path]:
    """leaderboard.csv (one line per entry and split), .json, .md (the table) and .png."""
    directory.mkdir(parents=True, exist_ok=True)
    summaries = summarise(runs)
    csv_path = directory / LEADERBOARD_CSV
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[field.name for field in fields(EntryRun)], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(asdict(run) for run in runs)
    json_path = directory / LEADERBOARD_JSON
    record = {
        **details,
        "runs": [asdict(run) for run in runs],
        "summaries": [asdict(summary) for summary in summaries],
        "std_ddof": 1,
    }
    json_path.write_text(json.dumps(_nan_as_null(record), indent=2, allow_nan=False) + "\n")
    md_path = directory / LEADERBOARD_MD
    md_path.write_text(markdown_table(summaries) + "\n")
    return [csv_path, json_path, md_path, plot_leaderboard(summaries, directory / LEADERBOARD_PNG)]


def _nan_as_null(value: Any) -> Any:
    """JSON has no NaN: a figure not measured for an entry (PCA's strip) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_as_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_as_null(item) for item in value]
    return value


def plot_leaderboard(summaries: Sequence[EntrySummary], path: Path) -> Path:
    """ROC AUC (mean ± std over splits) and accuracy at shifts of 0, 2 and 4 samples per entry."""
    from training.evaluation.plots import _figure, _save

    figure = _figure(10.0, 4.5)
    auc_axes, shift_axes = figure.subplots(1, 2)
    names = [summary.entry for summary in summaries]
    positions = np.arange(len(names))
    auc_axes.errorbar(
        [s.mean["roc_auc"] for s in summaries],
        positions,
        xerr=[s.std["roc_auc"] for s in summaries],
        fmt="o",
        capsize=3,
    )
    auc_axes.set_yticks(positions, names)
    auc_axes.invert_yaxis()
    auc_axes.set_xlabel("ROC AUC, mean ± std over splits")
    width = 0.8 / len(EVALUATED_SHIFTS)
    for index, shift in enumerate(EVALUATED_SHIFTS):
        shift_axes.barh(
            positions + (index - 1) * width,
            [s.mean[f"accuracy_shift_{shift}"] for s in summaries],
            height=width,
            label=f"shift {shift}",
        )
    shift_axes.set_yticks(positions, names)
    shift_axes.invert_yaxis()
    shift_axes.set_xlim(0.4, 1.0)
    shift_axes.set_xlabel("accuracy at mean + 1·std, test beats cut again later")
    shift_axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(EVALUATED_SHIFTS))
    return _save(figure, path)
