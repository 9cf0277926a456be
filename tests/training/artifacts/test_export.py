"""Exporting the model directory: what it holds, and that it appears atomically or not at all."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from app.inference.artifact import KERAS_FILE, METADATA_FILE, ONNX_FILE, read_metadata
from training.artifacts import export
from training.artifacts.atomic import ExportError, atomic_directory
from training.artifacts.export import export_model, processor_name, scoring_digest
from training.config import TrainConfig
from training.fitting.train import TrainingResult

PNG_FILES = {
    "loss.png", "error_histogram.png", "roc.png", "precision_recall.png", "reconstructions.png",
}  # fmt: skip
REPORT_FILES = {*PNG_FILES, "thresholds.csv"}


def entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_export_writes_a_directory_the_service_reader_accepts(tiny_model_dir: Path) -> None:
    metadata = read_metadata(tiny_model_dir)
    assert set(entries(tiny_model_dir)) == {METADATA_FILE, ONNX_FILE, KERAS_FILE, *REPORT_FILES}
    assert set(metadata.files) == {ONNX_FILE, KERAS_FILE, *REPORT_FILES}
    assert metadata.input_length == 140


def test_export_records_version_time_library_versions_and_processor(
    tiny_model_dir: Path, tiny_config: TrainConfig
) -> None:
    metadata = read_metadata(tiny_model_dir)
    assert metadata.training.processor == processor_name() != ""
    family = tiny_config.model.architecture
    assert re.fullmatch(rf"ecg5000-{family}-20250304-[0-9a-f]{{8}}", metadata.model_version)
    assert metadata.created_at == "2025-03-04T05:06:00+00:00"
    assert set(metadata.training.library_versions) == {
        "python", "tensorflow", "keras", "numpy", "scikit-learn", "onnx", "tf2onnx",
    }  # fmt: skip
    hyperparameters = metadata.training.hyperparameters
    assert hyperparameters["hidden_units"] == [128, 64, 32]
    assert hyperparameters["trim_fraction"] == tiny_config.trim_fraction
    assert hyperparameters["trim_warmup"] == tiny_config.trim_warmup
    assert hyperparameters["step_height"] == tiny_config.step_height
    assert hyperparameters["step_fraction"] == tiny_config.step_fraction
    assert hyperparameters["ensemble_size"] == tiny_config.model.ensemble_size


def test_export_writes_png_plots(tiny_model_dir: Path) -> None:
    for name in PNG_FILES:
        assert (tiny_model_dir / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name


def test_atomic_directory_appears_only_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / METADATA_FILE).write_text("{}")
        raise RuntimeError("boom")
    assert entries(tmp_path) == []
    with atomic_directory(target) as staging:
        (staging / METADATA_FILE).write_text("new")
        assert not target.exists()
    assert (target / METADATA_FILE).read_text() == "new"
    assert entries(tmp_path) == ["model"]


def test_atomic_directory_replaces_an_existing_model_and_removes_the_old_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / METADATA_FILE).write_text("old")
    (target / "stale.png").write_text("old plot")
    with atomic_directory(target) as staging:
        (staging / METADATA_FILE).write_text("new")
        assert (target / METADATA_FILE).read_text() == "old"
    assert entries(target) == [METADATA_FILE]
    assert (target / METADATA_FILE).read_text() == "new"
    assert entries(tmp_path) == ["model"]


def test_failure_mid_export_leaves_no_target_directory(
    tiny_result: TrainingResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_onnx_export(*args: object) -> None:
        raise RuntimeError("simulated failure while writing model.onnx")

    monkeypatch.setattr(export, "export_onnx", broken_onnx_export)
    with pytest.raises(RuntimeError, match="simulated failure"):
        export_model(tiny_result, tmp_path / "model")
    assert entries(tmp_path) == []


def test_failure_mid_export_leaves_the_previous_model_intact(
    tiny_result: TrainingResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "model"
    export_model(tiny_result, target)
    before = {name: (target / name).read_bytes() for name in entries(target)}

    def broken_report(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "save_report", broken_report)
    with pytest.raises(OSError, match="No space left"):
        export_model(tiny_result, target)
    assert {name: (target / name).read_bytes() for name in entries(target)} == before
    assert entries(tmp_path) == ["model"]
    read_metadata(target)


def test_export_refuses_to_replace_a_directory_that_is_not_a_model(
    tiny_result: TrainingResult, tmp_path: Path
) -> None:
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(ExportError, match="not a model directory"):
        export_model(tiny_result, precious)
    assert entries(precious) == ["thesis.tex"]
    assert entries(tmp_path) == ["notes"]


def test_export_refuses_a_target_that_is_a_file(
    tiny_result: TrainingResult, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    target.write_text("not a directory")
    with pytest.raises(ExportError, match="not a directory"):
        export_model(tiny_result, target)


def test_the_same_network_judged_otherwise_is_another_model_version(
    tiny_result: TrainingResult,
) -> None:
    def digest(result: TrainingResult) -> str:
        return scoring_digest(
            "0" * 64, result.normalisation, result.smoothing, result.alignment, result.threshold
        )

    versions = {
        digest(result)
        for result in (
            tiny_result,
            replace(tiny_result, smoothing=None),
            replace(tiny_result, threshold=tiny_result.threshold * 1.1),
        )
    }
    assert len(versions) == 3
    assert digest(tiny_result) == digest(replace(tiny_result))
