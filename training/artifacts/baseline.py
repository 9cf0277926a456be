"""Writing a recording baseline's model directory (`training.fitting.baseline` fits it): an
ordinary one, whose metadata says whose beats it learnt, how they were cut, and its timing rule.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.inference.artifact import (
    KERAS_FILE,
    ONNX_FILE,
    Examples,
    ModelMetadata,
    Provenance,
    TrainingRecord,
    file_sha256,
    read_metadata,
    write_metadata,
)
from training.artifacts.atomic import atomic_directory
from training.artifacts.export import (
    export_onnx,
    hyperparameters,
    library_versions,
    processor_name,
)
from training.evaluation.plots import HISTOGRAM_PNG, LOSS_PNG, plot_error_histogram, plot_loss
from training.fitting.baseline import INPUT_LENGTH, BaselineFit
from training.fitting.train import summarise_errors


def export_baseline(
    fit: BaselineFit, target: Path, sources: list[Path], created_at: datetime | None = None
) -> ModelMetadata:
    """An ordinary model directory, written atomically: the service serves it like any other."""
    created_at = created_at or datetime.now(UTC)
    with atomic_directory(target) as staging:
        fit.model.save(staging / KERAS_FILE)
        export_onnx(fit.model, staging / ONNX_FILE, fit.config.model.label)
        curves = [(member.history, member.best_epoch) for member in fit.members]
        plot_loss(curves, staging / LOSS_PNG, fit.config.trim_fraction)
        all_normal = np.ones(len(fit.errors), dtype=bool)  # no labels: the baseline's beats
        plot_error_histogram(
            fit.errors, all_normal, fit.threshold, staging / HISTOGRAM_PNG, "the baseline's beats"
        )
        files = {path.name: file_sha256(path) for path in sorted(staging.iterdir())}
        metadata = ModelMetadata(
            model_version=f"{_name(sources)}-baseline-{created_at:%Y%m%d}-{files[ONNX_FILE][:8]}",
            created_at=created_at.astimezone(UTC).isoformat(timespec="seconds"),
            input_length=INPUT_LENGTH,
            normalisation=fit.normalisation,
            smoothing=fit.smoothing,
            alignment=fit.alignment,
            threshold=fit.threshold,
            threshold_rule=fit.threshold_rule,
            training_errors=summarise_errors(fit.errors),
            metrics=None,
            training=_training_record(fit, sources),
            beat_window=fit.parts[0].window,
            provenance=_provenance(fit, sources),
            rhythm=fit.rhythm,
            examples=Examples(normal=[round(float(v), 6) for v in _typical_beat(fit)]),
            files=files,
        )
        write_metadata(staging, metadata)
        read_metadata(staging)  # the service's own check, before anything is replaced
    return metadata


def _name(sources: list[Path]) -> str:
    return sources[0].stem if len(sources) == 1 else f"{len(sources)}-records"


def _typical_beat(fit: BaselineFit) -> np.ndarray:
    """The baseline beat nearest the median error: a normal beat of this person, for Swagger."""
    beats = np.concatenate([part.beats for part in fit.parts])
    return beats[np.argsort(fit.errors)[len(fit.errors) // 2]]


def _provenance(fit: BaselineFit, sources: list[Path]) -> Provenance:
    first = fit.parts[0]
    leads = sorted({part.recording.lead_names[part.lead] for part in fit.parts})
    stretch = (first.stretch.start_s, first.stretch.end_s) if len(fit.parts) == 1 else None
    return Provenance(
        dataset="baseline fitted on the recording itself, without labels",
        record=", ".join(path.name for path in sources),
        lead=", ".join(leads),
        sampling_rate_hz=first.recording.sampling_rate,
        stretch_s=stretch,
    )


def _training_record(fit: BaselineFit, sources: list[Path]) -> TrainingRecord:
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    config = fit.config
    stretches = "; ".join(f"{part.recording.name}: {part.stretch.describe()}" for part in fit.parts)
    return TrainingRecord(
        data_sha256=digest.hexdigest(),
        data_source=", ".join(str(path) for path in sources),
        n_rows=len(fit.errors),
        split=f"baseline beats of {stretches}; {config.validation_fraction} of them held out for "
        "early stopping; the threshold over all of them, trimmed ones included",
        seed=config.seed,
        architecture=config.model.label,
        epochs_run=sum(member.epochs_run for member in fit.members),
        hyperparameters=hyperparameters(config, fit.members),
        library_versions=library_versions(),
        processor=processor_name(),
    )
