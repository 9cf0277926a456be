"""Training a small model on the real data through the CLI, and checking what the service gets.

One training run is shared by the module, plus a second with the same seed for reproducibility;
each takes a few seconds on two CPU cores.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import onnxruntime as ort
import pytest

from app.inference.artifact import KERAS_FILE, ONNX_FILE, Metrics, ModelMetadata, read_metadata
from app.inference.scoring import prepare
from training.cli.evaluate import main as evaluate_main
from training.cli.train import main
from training.data.sources import load_beats
from training.fitting.train import split_reference

pytestmark = pytest.mark.slow

ARGS = ["--epochs", "15", "--seed", "5"]


@dataclass(frozen=True)
class Run:
    directory: Path
    stdout: str
    metadata: ModelMetadata


def train_via_cli(data: Path, output: Path) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--data", str(data), "--output", str(output), *ARGS])
    assert code == 0, err.getvalue()
    return Run(output, out.getvalue(), read_metadata(output))


@pytest.fixture(scope="module")
def run(ecg_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return train_via_cli(ecg_csv, tmp_path_factory.mktemp("e2e") / "model")


@pytest.fixture(scope="module")
def test_beats(ecg_csv: Path, run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The held-out test beats, normalised and smoothed as the service will, and their labels."""
    split = split_reference(load_beats(ecg_csv), test_size=0.2, random_state=21)
    return prepare(split.test_beats, run.metadata), split.test_is_normal


def onnx_session(run: Run) -> ort.InferenceSession:
    return ort.InferenceSession(str(run.directory / ONNX_FILE), providers=["CPUExecutionProvider"])


def onnx_errors(run: Run, normalised: np.ndarray) -> np.ndarray:
    session = onnx_session(run)
    (output,) = session.run(None, {session.get_inputs()[0].name: normalised})
    return np.mean(np.abs(output - normalised), axis=1)


def test_the_service_reader_accepts_the_trained_directory(run: Run, ecg_csv: Path) -> None:
    assert read_metadata(run.directory).model_version == run.metadata.model_version
    assert run.metadata.training.n_rows == load_beats(ecg_csv).n_rows
    per_member = run.metadata.training.hyperparameters["member_epochs_run"]
    assert isinstance(per_member, list) and len(per_member) == 1  # the default: one autoencoder
    assert all(epochs <= 15 for epochs in per_member)
    assert run.metadata.training.epochs_run == sum(per_member)
    assert run.metadata.metrics.n_test == 1000


def test_held_out_accuracy_is_at_least_ninety_percent(run: Run) -> None:
    assert run.metadata.metrics.accuracy >= 0.90, run.stdout


def test_onnx_matches_keras_on_real_test_beats(run: Run, test_beats) -> None:
    normalised, _ = test_beats
    keras_model = keras.models.load_model(run.directory / KERAS_FILE)
    expected = keras.ops.convert_to_numpy(keras_model(normalised, training=False))
    session = onnx_session(run)
    (actual,) = session.run(None, {session.get_inputs()[0].name: normalised})
    assert np.max(np.abs(actual - expected)) <= 1e-5


def test_onnx_errors_reproduce_the_recorded_accuracy(run: Run, test_beats) -> None:
    normalised, is_normal = test_beats
    flagged = onnx_errors(run, normalised) > run.metadata.threshold
    assert np.mean(flagged == ~is_normal) == pytest.approx(run.metadata.metrics.accuracy, abs=2e-3)


def test_examples_are_classified_as_labelled_by_the_exported_model(run: Run) -> None:
    examples = np.array([run.metadata.examples.normal, run.metadata.examples.abnormal], np.float32)
    normal_error, abnormal_error = onnx_errors(run, prepare(examples, run.metadata))
    assert normal_error <= run.metadata.threshold < abnormal_error


def test_examples_are_not_rows_of_the_data(run: Run, ecg_csv: Path) -> None:
    rows = load_beats(ecg_csv).beats
    for example in (run.metadata.examples.normal, run.metadata.examples.abnormal):
        distances = np.max(np.abs(rows - np.asarray(example, np.float32)), axis=1)
        assert distances.min() > 1e-3


def test_cli_prints_the_metrics_table_and_where_the_model_went(run: Run) -> None:
    assert "held-out metrics (positive class: abnormal)" in run.stdout
    assert "accuracy" in run.stdout
    assert f"model {run.metadata.model_version} written to {run.directory}" in run.stdout
    assert "epoch  1/15" in run.stdout


def test_same_seed_gives_the_same_threshold_metrics_and_onnx_model(
    run: Run, ecg_csv: Path, tmp_path: Path
) -> None:
    again = train_via_cli(ecg_csv, tmp_path / "again")
    assert again.metadata.threshold == run.metadata.threshold
    assert again.metadata.metrics == run.metadata.metrics
    assert again.metadata.examples == run.metadata.examples
    assert again.metadata.files[ONNX_FILE] == run.metadata.files[ONNX_FILE]


def test_ecg_evaluate_reproduces_the_recorded_report_on_the_reference_split(
    run: Run, ecg_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model", run.directory, "--data", ecg_csv, "--reference-split", "--output", tmp_path]
    assert evaluate_main([str(arg) for arg in args]) == 0
    printed = capsys.readouterr().out.splitlines()
    metrics = json.loads((tmp_path / "report.json").read_text())["metrics"]
    metrics.pop("false_alarm_rate")
    assert Metrics.model_validate(metrics) == run.metadata.metrics
    csv_name = "thresholds.csv"
    assert (tmp_path / csv_name).read_bytes() == (run.directory / csv_name).read_bytes()
    report = "\n".join(printed[1:-1])  # between the model line and "report written to"
    assert report.startswith("threshold ") and report in run.stdout
