"""Writing the model directory that `app/` serves: weights, ONNX, the report and `metadata.json`.

The directory is built beside the target, checked with the service's own reader, then renamed
into place (`training.artifacts.atomic`), so a failure leaves the previous model as it was.

The held-out report (metrics, `thresholds.csv`, plots) is made from the exported ONNX model as the
service loads it, so `metadata.json` records exactly what the service and `ecg-evaluate` get.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import onnx
import sklearn
import tensorflow as tf
import tf2onnx

from app.inference.artifact import (
    KERAS_FILE,
    METADATA_FILE,
    ONNX_FILE,
    Alignment,
    Hyperparameter,
    Metrics,
    MinMaxNormalisation,
    ModelMetadata,
    Smoothing,
    ThresholdRule,
    TrainingErrors,
    TrainingRecord,
    file_sha256,
    read_metadata,
    write_metadata,
)
from app.inference.scoring import Scorer, load_scorer
from training.artifacts.atomic import atomic_directory
from training.config import ModelConfig, TrainConfig
from training.data.sources import ECG5000_BEAT_WINDOW, ECG5000_PROVENANCE
from training.data.split import Split, reference_split_description
from training.evaluation.metrics import evaluate
from training.evaluation.plots import LOSS_PNG, plot_loss
from training.evaluation.report import Report, ScoredBeats, build_report, save_report
from training.fitting.train import MemberFit, TrainingResult

DATA_SET_PREFIX = "ecg5000"


@dataclass(frozen=True)
class ExportedModel:
    metadata: ModelMetadata
    report: Report


def export_model(
    result: TrainingResult, target: Path, created_at: datetime | None = None
) -> ExportedModel:
    """Write `model.keras`, `model.onnx`, the report's files and `metadata.json` to `target`."""
    created_at = created_at or datetime.now(UTC)
    with atomic_directory(target) as staging:
        result.model.save(staging / KERAS_FILE)
        export_onnx(result.model, staging / ONNX_FILE, result.config.model.label)
        report = held_out_report(result, staging, created_at)
        plot_loss(
            [(member.history, member.best_epoch) for member in result.members],
            staging / LOSS_PNG,
            result.config.trim_fraction,
        )
        save_report(report, staging)
        metadata = build_metadata(result, report.metrics, staging, created_at)
        write_metadata(staging, metadata)
        read_metadata(staging)  # the service's own check, before anything is replaced
    return ExportedModel(metadata, report)


def held_out_report(result: TrainingResult, staging: Path, created_at: datetime) -> Report:
    """Score the held-out test beats with the staged ONNX model, through the service's loader.

    The loader reads `metadata.json`, so a provisional one (with the Keras model's metrics) is
    written first; the caller replaces it once the report's files are written.
    """
    split = result.split
    provisional = evaluate(result.test_errors, ~split.test_is_normal, result.threshold)
    write_metadata(staging, build_metadata(result, provisional, staging, created_at))
    return held_out_test_report(
        load_scorer(staging),
        split,
        result.threshold,
        result.threshold_rule,
        result.training_errors,
    )


def held_out_test_report(
    scorer: Scorer,
    split: Split,
    threshold: float,
    rule: ThresholdRule,
    training_errors: TrainingErrors,
) -> Report:
    """The split's held-out test beats scored by `scorer` (the service's path), judged at
    `threshold`."""
    scores = scorer.score(split.test_beats)
    scored = ScoredBeats(
        errors=scores.errors,
        is_normal=split.test_is_normal,
        beats=scores.normalised,
        reconstructions=scores.reconstructions,
        rows=split.test_rows,
    )
    return build_report(scored, threshold, rule.describe(), training_errors)


def export_onnx(model: keras.Model, path: Path, architecture: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probing numpy's removed aliases
        model.export(str(path), format="onnx", verbose=False)
    _drop_export_counters(path, architecture)


def _drop_export_counters(path: Path, architecture: str) -> None:
    """Replace the names tf2onnx numbers with process-wide counters by fixed ones.

    With the counters (`unk__6` for the batch dimension, `__inference___call___3502` in the doc
    string), the same weights exported twice in one process gave different bytes, hence a
    different sha256 and model version.
    """
    proto = onnx.load(str(path))
    graph = proto.graph
    graph.doc_string = f"{architecture} ECG autoencoder: normalised beats -> reconstructions"
    for value in (*graph.input, *graph.output, *graph.value_info):
        first = value.type.tensor_type.shape.dim[0]
        if first.dim_param:
            first.dim_param = "batch"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def build_metadata(
    result: TrainingResult, metrics: Metrics, directory: Path, created_at: datetime
) -> ModelMetadata:
    files = {
        path.name: file_sha256(path)
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != METADATA_FILE
    }
    return ModelMetadata(
        model_version=model_version(
            result.config.model.label,
            created_at,
            scoring_digest(
                files[ONNX_FILE],
                result.normalisation,
                result.smoothing,
                result.alignment,
                result.threshold,
            ),
        ),
        created_at=created_at.astimezone(UTC).isoformat(timespec="seconds"),
        input_length=int(result.dataset.beats.shape[1]),
        normalisation=result.normalisation,
        smoothing=result.smoothing,
        alignment=result.alignment,
        threshold=result.threshold,
        threshold_rule=result.threshold_rule,
        training_errors=result.training_errors,
        metrics=metrics,
        training=training_record(result),
        beat_window=ECG5000_BEAT_WINDOW,
        provenance=ECG5000_PROVENANCE,
        examples=result.examples,
        files=files,
    )


def model_version(architecture: str, created_at: datetime, scoring_sha256: str) -> str:
    """Readable and unique: `ecg5000-sparse-20250101-1a2b3c4d` (the autoencoder family, the UTC
    date and `scoring_digest`)."""
    stamp = f"{created_at.astimezone(UTC):%Y%m%d}-{scoring_sha256[:8]}"
    return f"{DATA_SET_PREFIX}-{architecture}-{stamp}"


def scoring_digest(
    onnx_sha256: str,
    normalisation: MinMaxNormalisation,
    smoothing: Smoothing | None,
    alignment: Alignment | None,
    threshold: float,
) -> str:
    """The sha256 of what decides a verdict: the ONNX file, the normalisation, the smoothing, the
    alignment and the threshold. The same network judged another way is another model."""
    scoring = {
        "onnx_sha256": onnx_sha256,
        "normalisation": normalisation.model_dump(),
        "smoothing": smoothing.model_dump() if smoothing else None,
        "threshold": threshold,
    }
    if alignment is not None:  # absent otherwise: unaligned models keep their digests
        scoring["alignment"] = alignment.model_dump()
    return hashlib.sha256(json.dumps(scoring, sort_keys=True).encode()).hexdigest()


def training_record(result: TrainingResult) -> TrainingRecord:
    config = result.config
    return TrainingRecord(
        data_sha256=result.dataset.sha256,
        data_source=result.dataset.source,
        n_rows=result.dataset.n_rows,
        split=(
            f"{reference_split_description(config)}; "
            "normalisation, model and threshold fitted on the training part's normal beats, "
            f"{config.validation_fraction:g} of them held out for early stopping"
            + (
                "; the threshold over all of them, trimmed ones included"
                if config.trim_fraction
                else ""
            )
        ),
        seed=config.seed,
        architecture=config.model.label,
        epochs_run=result.epochs_run,
        hyperparameters=hyperparameters(config, result.members),
        library_versions=library_versions(),
        processor=processor_name(),
    )


# The hyper-parameters each family reads, beyond the shared ones (`training.fitting.architectures`).
FAMILY_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "dense": ("hidden_units", "activation", "dropout"),
    "denoising": ("hidden_units", "activation", "dropout"),
    "sparse": ("hidden_units", "activation", "dropout", "sparsity_l1"),
    "conv": ("conv_filters", "kernel_size", "code_size"),
    "vae": ("hidden_units", "activation", "dropout", "kl_weight", "vae_sampling_seed"),
    "contractive": ("hidden_units", "activation", "dropout", "contractive_weight"),
    "lstm": ("lstm_units", "lstm_step"),
}


def family_hyperparameters(config: ModelConfig) -> dict[str, Hyperparameter]:
    """The family's own hyper-parameters, as metadata.json and GET /v1/model show them."""
    chosen: dict[str, Hyperparameter] = {}
    for family in config.families:
        for name in FAMILY_HYPERPARAMETERS[family]:
            value = getattr(config, name)
            chosen[name] = list(value) if isinstance(value, tuple) else value
    noises = [config.member(index).effective_input_noise for index in range(len(config.families))]
    if config.mix and len(set(noises)) > 1:  # each member takes its own family's default noise
        pairs = zip(config.families, noises, strict=True)
        chosen["input_noise"] = ", ".join(f"{family} {noise:g}" for family, noise in pairs)
    else:
        chosen["input_noise"] = noises[0]
    return chosen


def hyperparameters(config: TrainConfig, members: Sequence[MemberFit]) -> dict[str, Hyperparameter]:
    """What the autoencoders were fitted with, and each member's seed and epochs: the same record
    for a model of a data set and a recording baseline."""
    return {
        "architecture": config.model.label,
        **family_hyperparameters(config.model),
        "learning_rate": config.model.learning_rate,
        "optimizer": "adam",
        "loss": "mae",
        "batch_size": config.batch_size,
        "max_epochs": config.epochs,
        "patience": config.patience,
        "ensemble_size": config.model.ensemble_size,
        "member_architectures": [
            config.model.member(index).architecture for index in range(len(members))
        ],
        "member_seeds": [member.seed for member in members],
        "member_epochs_run": [member.epochs_run for member in members],
        "member_best_epochs": [member.best_epoch for member in members],
        "candidates": config.candidates,
        **candidate_figures(config, members),
        "validation_fraction": config.validation_fraction,
        "trim_fraction": config.trim_fraction,
        "trim_warmup": config.trim_warmup,
        "max_shift": config.max_shift,
        "step_height": config.step_height,
        "step_fraction": config.step_fraction,
        "threshold_max_shift": config.threshold_shift,
        "smoothing_window": config.smoothing_window,
        "smoothing_polyorder": config.smoothing_polyorder,
        "align_max_shift": config.align_max_shift,
        "align_step": config.align_step,
    }


def candidate_figures(
    config: TrainConfig, members: Sequence[MemberFit]
) -> dict[str, Hyperparameter]:
    """With --candidates N > 1, every candidate's seed and training-part ROC AUC, member by member
    (N to a member, the kept one among them)."""
    if config.candidates == 1:
        return {}
    return {
        "candidate_seeds": [seed for member in members for seed in member.candidate_seeds],
        "candidate_roc_aucs": [auc for member in members for auc in member.candidate_roc_aucs],
    }


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "onnx": onnx.__version__,
        "tf2onnx": tf2onnx.__version__,
    }


def machine_record() -> dict[str, str | int | dict[str, str]]:
    """The processor and libraries a run trained on. The same seed gives other networks on
    another processor (its float kernels round differently), so figures are tied to it."""
    return {
        "processor": processor_name(),
        "architecture": platform.machine(),
        "cpu_count": os.cpu_count() or 0,
        "libraries": library_versions(),
    }


def processor_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
