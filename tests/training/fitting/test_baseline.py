"""`ecg-train --recording`: a baseline fitted on the first minutes of MIT-BIH record 100, served
and evaluated like any model (few epochs here; the README gives the full run's figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.inference.scoring import load_scorer
from app.main import create_app
from training.cli.evaluate import main as evaluate_main
from training.cli.train import main as train_main
from training.config import ModelConfig, TrainConfig
from training.fitting.baseline import parse_stretch

QUICK = ["--epochs", "4", "--ensemble-size", "1", "--patience", "2", "--quiet"]


@pytest.fixture(scope="module")
def record_100_header(mitdb_dir: Path) -> Path:
    return mitdb_dir / "100.hea"


@pytest.fixture(scope="module")
def baseline_dir(record_100_header: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("baseline") / "model"
    args = ["--recording", str(record_100_header), "--baseline", "0:02:30", "--output", str(output)]
    assert train_main([*args, *QUICK]) == 0
    return output


def test_baseline_is_an_ordinary_model_directory_that_says_whose_it_is(baseline_dir: Path) -> None:
    metadata = load_scorer(baseline_dir).metadata
    assert metadata.provenance.record == "100.hea" and metadata.provenance.lead == "MLII"
    assert metadata.provenance.stretch_s == (0.0, 150.0)
    assert metadata.provenance.sampling_rate_hz == 360
    assert metadata.beat_window.qrs_polarity == "positive"  # MLII's R waves point up
    assert metadata.metrics is None and metadata.examples.abnormal is None
    assert metadata.rhythm is not None and 0.8 < metadata.rhythm.premature_below < 0.95
    assert metadata.threshold_rule.describe().startswith("100th percentile")
    assert metadata.training_errors.n > 150  # beats of the two and a half minutes
    assert {"loss.png", "error_histogram.png", "model.onnx", "model.keras"} <= set(metadata.files)


def test_baseline_metadata_names_the_family_and_options_it_was_fitted_with(
    baseline_dir: Path,
) -> None:
    """GET /v1/model shows `training` as written: it must say what was fitted, not a default."""
    training = load_scorer(baseline_dir).metadata.training
    default = ModelConfig()
    assert training.architecture == default.architecture
    hyperparameters = training.hyperparameters
    assert hyperparameters["architecture"] == default.architecture
    assert hyperparameters["sparsity_l1"] == default.sparsity_l1  # the sparse family's own option
    assert hyperparameters["max_shift"] == TrainConfig().max_shift
    assert hyperparameters["max_epochs"] == 4 and hyperparameters["patience"] == 2  # QUICK's
    assert hyperparameters["smoothing_window"] == 0  # a baseline is fitted unsmoothed by default
    assert hyperparameters["threshold_max_shift"] == 0  # its threshold is over its beats as cut
    assert hyperparameters["step_height"] == 0  # nor fitted with steps
    assert len(hyperparameters["member_seeds"]) == 1


def test_service_scores_a_recording_with_the_baseline(
    baseline_dir: Path, record_100_header: Path
) -> None:
    files = [
        ("files", (name, (record_100_header.parent / name).read_bytes()))
        for name in ("100.hea", "100.dat", "100.atr")
    ]
    with TestClient(create_app(Settings(model_dir=baseline_dir))) as client:
        result = client.post("/v1/recordings", files=files).json()
        assert client.get("/openapi.json").status_code == 200  # no abnormal example: still fine
        page = client.get("/")
    summary = result["summary"]
    assert "premature when the RR interval is below" in summary["timing_rule"]
    assert summary["fit"]["fits"] is True
    assert not any("does not describe this person" in w for w in result["warnings"])
    by_class = result["annotations"]["verdicts_by_class"]
    assert by_class["S"].get("abnormal", 0) >= 0.9 * by_class["S"]["annotated"]
    assert "No labelled held-out test" in page.text


def test_evaluate_reports_a_recording_against_its_annotations(
    baseline_dir: Path, record_100_header: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model", str(baseline_dir), "--recording", str(record_100_header)]
    assert evaluate_main([*args, "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "judged from 150 s" in out and "| N |" in out and "ROC AUC" in out
    report = json.loads((tmp_path / "recording_report.json").read_text())
    assert report["detection"]["sensitivity"] >= 0.998
    assert report["others_flagged"] >= 0.9
    assert (tmp_path / "recording_roc.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ("0:01:00", "at least 100 are needed"),
        ("1:00:00-1:05:00", "after the recording ends"),
        ("0:05:00-0:01:00", "must end after it starts"),
    ],
)
def test_baseline_that_cannot_be_fitted_exits_2_and_writes_nothing(
    record_100_header: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    baseline: str,
    message: str,
) -> None:
    output = tmp_path / "model"
    args = ["--recording", str(record_100_header), "--baseline", baseline, "--output", str(output)]
    assert train_main([*args, *QUICK]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_baseline_on_a_lead_the_recording_lacks_exits_2(
    record_100_header: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--recording", str(record_100_header), "--lead", "V7", "--output", str(tmp_path / "m")]
    assert train_main([*args, *QUICK]) == 2
    assert "'V7' is not a lead of this recording" in capsys.readouterr().err


def test_stretches_are_read_as_clock_times() -> None:
    assert (parse_stretch("0:05:00").start_s, parse_stretch("0:05:00").end_s) == (0, 300)
    assert parse_stretch("10:00-15:30").end_s == 930
    with pytest.raises(ValueError, match="not a time"):
        parse_stretch("five minutes")


def test_population_baseline_is_fitted_on_every_record_of_a_folder(
    record_100_header: Path, tmp_path: Path
) -> None:
    """Two records here: record 100 and its V5 lead written as a record of its own."""
    import shutil

    import wfdb

    folder = tmp_path / "records"
    folder.mkdir()
    for name in ("100.hea", "100.dat"):
        shutil.copy(record_100_header.parent / name, folder / name)
    record = wfdb.rdrecord(str(record_100_header.with_suffix("")), channels=[1], sampto=360 * 200)
    wfdb.wrsamp("v5", fs=record.fs, units=record.units, sig_name=["MLII"],
                p_signal=record.p_signal, fmt=["16"], write_dir=str(folder))  # fmt: skip
    output = tmp_path / "population"
    args = ["--recordings", str(folder), "--baseline", "0:02:00", "--output", str(output)]
    assert train_main([*args, *QUICK]) == 0
    metadata = load_scorer(output).metadata
    assert metadata.provenance.record == "100.hea, v5.hea"
    assert metadata.provenance.stretch_s is None  # one stretch of each record
    assert metadata.training_errors.n > 250  # two minutes of each


def test_baseline_on_annotated_normal_beats_leaves_the_others_out(
    record_100_header: Path, baseline_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "annotated"
    args = ["--recording", str(record_100_header), "--baseline", "0:02:30", "--annotations", "atr"]
    assert train_main([*args, "--output", str(output), *QUICK]) == 0
    unlabelled = load_scorer(baseline_dir).metadata.training_errors.n
    annotated = load_scorer(output).metadata.training_errors.n
    assert 0 < unlabelled - annotated <= 10  # the few premature beats of those minutes


def test_baseline_refuses_candidates_it_has_no_labels_to_choose_by(
    record_100_header: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model"
    args = ["--recording", str(record_100_header), "--candidates", "2", "--output", str(output)]
    assert train_main([*args, *QUICK]) == 2
    assert "--candidates 2 chooses each autoencoder" in capsys.readouterr().err
    assert not output.exists()


def test_baseline_refuses_to_take_its_threshold_over_shifted_beats(
    record_100_header: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model"
    args = ["--recording", str(record_100_header), "--threshold-max-shift", "6"]
    assert train_main([*args, "--output", str(output), *QUICK]) == 2
    assert "--threshold-max-shift 6 stands for the cut of beats" in capsys.readouterr().err
    assert not output.exists()
