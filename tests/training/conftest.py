"""Fixtures for the trainer's tests: the shared real data, and synthetic beats made on the spot.

The real ECG5000 files are never copied into the repository: they are read where the top-level
fixtures find them (`ecg5000_csv`, `ucr_train_txt`).
Synthetic beats are sine-based shapes, not data rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from training.config import ModelConfig, TrainConfig
from training.data.sources import Dataset, load_beats
from training.fitting.train import TrainingResult, train

N_SAMPLES = 140

Beats = tuple[np.ndarray, np.ndarray]


@pytest.fixture(scope="session")
def ecg_csv(ecg5000_csv: Path) -> Path:
    return ecg5000_csv


def synthetic_beats(n_normal: int, n_abnormal: int, seed: int = 0) -> Beats:
    """Normal: a noisy sine period; abnormal: a noisy faster square wave. Shuffled together."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, N_SAMPLES)
    normal = np.sin(2 * np.pi * t) * rng.uniform(0.9, 1.1, (n_normal, 1))
    abnormal = np.sign(np.sin(6 * np.pi * t)) * rng.uniform(0.9, 1.1, (n_abnormal, 1))
    beats = np.vstack([normal, abnormal]) + rng.normal(
        0.0, 0.05, (n_normal + n_abnormal, N_SAMPLES)
    )
    is_normal = np.arange(n_normal + n_abnormal) < n_normal
    order = rng.permutation(len(beats))
    return beats[order].astype(np.float32), is_normal[order]


def write_csv(path: Path, beats: np.ndarray, is_normal: np.ndarray, fmt: str = ".6f") -> Path:
    """`fmt` ".9g" writes float32 beats exactly: the file reads back to the same values."""
    lines = (
        ",".join(f"{value:{fmt}}" for value in beat) + f",{int(normal)}"
        for beat, normal in zip(beats, is_normal, strict=True)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ucr(path: Path, beats: np.ndarray, classes: np.ndarray) -> Path:
    lines = (
        f"  {float(label):.7e}" + "".join(f"  {value:.7e}" for value in beat)
        for beat, label in zip(beats, classes, strict=True)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


class BeatFiles:
    """Writes data files of synthetic beats into a test's temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def csv(
        self, n_normal: int = 30, n_abnormal: int = 10, name: str = "beats.csv", *, seed: int = 0
    ) -> Path:
        return write_csv(self.directory / name, *synthetic_beats(n_normal, n_abnormal, seed))

    def ucr(self, classes: list[int], name: str = "beats.txt") -> Path:
        beats, _ = synthetic_beats(len(classes), 0)
        return write_ucr(self.directory / name, beats, np.asarray(classes))

    def text(self, text: str, name: str = "beats.csv") -> Path:
        path = self.directory / name
        path.write_text(text)
        return path

    @staticmethod
    def replace_cell(path: Path, row: int, column: int, text: str) -> Path:
        """Overwrite one cell (1-based row and column) of a comma-separated file in place."""
        lines = path.read_text().splitlines()
        cells = lines[row - 1].split(",")
        cells[column - 1] = text
        lines[row - 1] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")
        return path


@pytest.fixture
def beat_files(tmp_path: Path) -> BeatFiles:
    return BeatFiles(tmp_path)


def synthetic_dataset(n_normal: int = 240, n_abnormal: int = 120, seed: int = 0) -> Dataset:
    beats, is_normal = synthetic_beats(n_normal, n_abnormal, seed)
    return Dataset(beats, is_normal, sha256="0" * 64, source="synthetic", layout="csv")


@pytest.fixture(name="synthetic_dataset", scope="session")
def synthetic_dataset_factory() -> Callable[..., Dataset]:
    return synthetic_dataset


@pytest.fixture(scope="session")
def tiny_config() -> TrainConfig:
    # one autoencoder keeps these quick; tests/training/fitting/test_ensemble.py covers several
    return TrainConfig(
        ModelConfig(ensemble_size=1), epochs=30, batch_size=32, patience=5, seed=7, candidates=1
    )


@pytest.fixture(scope="session")
def tiny_result(tiny_config: TrainConfig) -> TrainingResult:
    """A small model trained in a few seconds on synthetic beats, shared by the cheap tests."""
    return train(synthetic_dataset(), tiny_config)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_result: TrainingResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny_result` exported as a model directory (read-only: tests must not change it)."""
    from training.artifacts.export import export_model

    target = tmp_path_factory.mktemp("export") / "model"
    export_model(tiny_result, target, created_at=datetime(2025, 3, 4, 5, 6, tzinfo=UTC))
    return target


@pytest.fixture(scope="session")
def tiny_csv(tiny_result: TrainingResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data `tiny_result` was trained on, written exactly (it reads back to the same beats)."""
    dataset = tiny_result.dataset
    path = tmp_path_factory.mktemp("data") / "synthetic.csv"
    write_csv(path, dataset.beats, dataset.is_normal, fmt=".9g")
    np.testing.assert_array_equal(load_beats(path).beats, dataset.beats)
    return path
