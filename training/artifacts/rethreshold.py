"""Writing a model directory whose threshold was taken again (`training.fitting.rethreshold`).

The network's files (`model.keras`, `model.onnx`, `loss.png`) are copied byte for byte; the
held-out report, `thresholds.csv`, the plots and `metadata.json` are made again at the new
threshold. The metadata is the source's with the threshold's fields replaced, and names the
source (`training.network_from`), so the new model says where its network came from.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from app.inference.artifact import (
    KERAS_FILE,
    METADATA_FILE,
    ONNX_FILE,
    Metrics,
    ModelMetadata,
    file_sha256,
    read_metadata,
    write_metadata,
)
from training.artifacts.atomic import ExportError, atomic_directory
from training.artifacts.export import (
    ExportedModel,
    held_out_test_report,
    model_version,
    scoring_digest,
)
from training.evaluation.plots import LOSS_PNG
from training.evaluation.report import save_report
from training.fitting.rethreshold import Rethresholded

NETWORK_FILES = (KERAS_FILE, ONNX_FILE, LOSS_PNG)


def export_rethresholded(
    result: Rethresholded, target: Path, created_at: datetime | None = None
) -> ExportedModel:
    """The source's network with the new threshold, written atomically to `target` (which may be
    the source itself)."""
    created_at = created_at or datetime.now(UTC)
    with atomic_directory(target) as staging:
        copy_network(result, staging)
        report = held_out_test_report(
            result.scorer,
            result.split,
            result.threshold,
            result.threshold_rule,
            result.training_errors,
        )
        save_report(report, staging)
        metadata = rethresholded_metadata(result, report.metrics, staging, created_at)
        write_metadata(staging, metadata)
        read_metadata(staging)  # the service's own check, before anything is replaced
    return ExportedModel(metadata, report)


def copy_network(result: Rethresholded, staging: Path) -> None:
    """The source's network files, checked against the checksums its threshold was taken with:
    a model written over the source meanwhile fails here instead of pairing another network
    with this threshold."""
    for name in NETWORK_FILES:
        source = result.source / name
        if not source.is_file():
            continue
        shutil.copy2(source, staging / name)
        expected = result.metadata.files.get(name)
        if expected is not None and file_sha256(staging / name) != expected:
            raise ExportError(f"{source}: changed while its threshold was being taken; try again")


def rethresholded_metadata(
    result: Rethresholded, metrics: Metrics, directory: Path, created_at: datetime
) -> ModelMetadata:
    source = result.metadata
    files = {
        path.name: file_sha256(path)
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != METADATA_FILE
    }
    digest = scoring_digest(
        files[ONNX_FILE], source.normalisation, source.smoothing, source.alignment, result.threshold
    )
    hyperparameters = {
        **source.training.hyperparameters,
        "threshold_max_shift": result.config.threshold_shift,
    }
    training = source.training.model_copy(
        update={
            "hyperparameters": hyperparameters,
            "network_from": source.training.network_from or source.model_version,
        }
    )
    return source.model_copy(
        update={
            "model_version": model_version(training.architecture, created_at, digest),
            "created_at": created_at.astimezone(UTC).isoformat(timespec="seconds"),
            "threshold": result.threshold,
            "threshold_rule": result.threshold_rule,
            "training_errors": result.training_errors,
            "metrics": metrics,
            "training": training,
            "examples": result.examples,
            "files": files,
        }
    )
