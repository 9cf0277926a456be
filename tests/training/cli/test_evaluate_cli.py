"""`ecg-evaluate`: scoring a model directory (the exported synthetic one), and multi-split mode."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.inference.artifact import Metrics, read_metadata
from app.inference.scoring import load_scorer
from training.cli.evaluate import REPORT_JSON, main
from training.config import TrainConfig
from training.data.sources import load_beats
from training.evaluation.multi_split import SUMMARISED, SplitResult, plan_splits, summarise
from training.evaluation.report import THRESHOLDS_CSV

REPO_ROOT = Path(__file__).resolve().parents[3]
REPORT_FILES = {
    REPORT_JSON, THRESHOLDS_CSV, "error_histogram.png", "roc.png", "precision_recall.png",
    "reconstructions.png",
}  # fmt: skip


def evaluate(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_reference_split_reproduces_the_exported_report_exactly(
    tiny_model_dir: Path, tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "report"
    code, out, err = evaluate(
        capsys, "--model", tiny_model_dir, "--data", tiny_csv, "--reference-split",
        "--output", output,
    )  # fmt: skip
    assert code == 0, err
    metadata = read_metadata(tiny_model_dir)
    record = json.loads((output / REPORT_JSON).read_text())
    metrics = dict(record["metrics"])
    cm = metadata.metrics.confusion_matrix
    assert metrics.pop("false_alarm_rate") == cm.false_positive / (
        cm.false_positive + cm.true_negative
    )
    assert Metrics.model_validate(metrics) == metadata.metrics
    assert record["threshold"] == metadata.threshold
    assert (output / THRESHOLDS_CSV).read_bytes() == (tiny_model_dir / THRESHOLDS_CSV).read_bytes()
    assert {path.name for path in output.iterdir()} == REPORT_FILES
    assert set(record["files"]) == REPORT_FILES - {REPORT_JSON}
    assert "held-out metrics (positive class: abnormal)" in out
    assert "held-out metrics across thresholds" in out


def test_all_rows_are_scored_without_writing_files(
    tiny_model_dir: Path, tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = evaluate(capsys, "--model", tiny_model_dir, "--data", tiny_csv)
    assert code == 0
    assert "on synthetic.csv: all 360 rows" in out
    assert "metrics on all 360 rows (positive class: abnormal)" in out
    assert "metrics on all 360 rows across thresholds" in out
    assert "test beats             360" in out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("option", "rule"),
    [
        (["--k", "2.5"], "mean + 2.5 * std of the training normal beats' MAE"),
        (["--threshold", "0.05"], "threshold given on the command line"),
    ],
)
def test_a_threshold_or_k_replaces_the_model_threshold(
    tiny_model_dir: Path,
    tiny_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    rule: str,
) -> None:
    code, _, err = evaluate(
        capsys, "--model", tiny_model_dir, "--data", tiny_csv, *option, "--output", tmp_path
    )
    assert code == 0, err
    record = json.loads((tmp_path / REPORT_JSON).read_text())
    stats = read_metadata(tiny_model_dir).training_errors
    expected = stats.mean_plus_k_std(2.5) if option[0] == "--k" else 0.05
    assert record["threshold"] == expected
    assert record["threshold_rule"] == rule
    assert record["thresholds"][-1]["threshold"] == expected


def test_a_missing_model_directory_exits_2_in_one_line(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = evaluate(capsys, "--model", tmp_path / "absent", "--data", tiny_csv)
    assert code == 2
    assert err.startswith("ecg-evaluate: error: ") and err.count("\n") == 1
    assert "model directory not found" in err


def test_data_with_one_class_only_is_refused(
    tiny_model_dir: Path, beat_files, capsys: pytest.CaptureFixture[str]
) -> None:
    normal_only = beat_files.csv(n_normal=30, n_abnormal=0)
    code, _, err = evaluate(capsys, "--model", tiny_model_dir, "--data", normal_only)
    assert code == 2
    assert "one class only" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "m", "--epochs", "3"], "--epochs goes with --multi-split"),
        (["--model", "m", "--threshold-rule", "calibrated"], "--threshold-rule goes with"),
        (["--multi-split", "3", "--k", "1"], "--k goes with --model"),
        (["--multi-split", "3", "--reference-split"], "--reference-split goes with --model"),
        (["--multi-split", "1"], "must be at least 2"),
        (["--model", "m", "--multi-split", "2"], "not allowed with argument"),
        (["--model", "m", "--k", "1", "--threshold", "0.1"], "not allowed with argument"),
    ],
)
def test_options_of_the_other_mode_are_refused(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = evaluate(capsys, *args, "--data", "x.csv")
    assert code == 2
    assert message in err


def test_help_describes_both_modes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = evaluate(capsys, "--help")
    assert code == 0
    for option in ("--model", "--multi-split", "--reference-split", "--seed-base", "--k"):
        assert option in out


def test_model_mode_runs_without_tensorflow(tiny_model_dir: Path, tiny_csv: Path) -> None:
    script = (
        "import sys; from training.cli.evaluate import main; "
        f"code = main(['--model', {str(tiny_model_dir)!r}, '--data', {str(tiny_csv)!r}]); "
        "print('tensorflow' in sys.modules); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("False")


def test_splits_start_with_the_reference_and_skip_its_random_state() -> None:
    plans = plan_splits(4, seed_base=20, reference=TrainConfig())
    assert [(p.split, p.random_state, p.seed) for p in plans] == [
        (1, 21, 42), (2, 20, 20), (3, 22, 22), (4, 23, 23),
    ]  # fmt: skip


def test_summary_is_the_mean_and_sample_std_over_splits() -> None:
    def row(split: int, value: float) -> SplitResult:
        figures = dict.fromkeys(SUMMARISED, value)
        return SplitResult(split, 0, 0, 1, 0.1, **figures, calibrated_threshold=0.1, seconds=1.0)

    summary = summarise([row(1, 0.9), row(2, 0.95), row(3, 1.0)])
    assert summary.mean["accuracy"] == pytest.approx(0.95)
    assert summary.std["f1"] == pytest.approx(0.05)  # ddof 1: sqrt((0.05² + 0 + 0.05²) / 2)


def test_multi_split_trains_each_split_and_tabulates_them(
    beat_files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = beat_files.csv(n_normal=120, n_abnormal=60)
    output = tmp_path / "multi"
    code, out, err = evaluate(
        capsys, "--multi-split", "2", "--data", data, "--output", output,
        "--epochs", "2", "--hidden-units", "16,8", "--ensemble-size", "2", "--seed-base", "5",
    )  # fmt: skip
    assert code == 0, err
    record = json.loads((output / "multi_split.json").read_text())
    splits = record["splits"]
    assert [(s["random_state"], s["seed"], s["epochs_run"]) for s in splits] == [
        (21, 42, 2 * 2),  # two autoencoders of 2 epochs each
        (5, 5, 2 * 2),
    ]
    for name in SUMMARISED:
        values = [s[name] for s in splits]
        assert record["mean"][name] == pytest.approx(np.mean(values))
        assert record["std"][name] == pytest.approx(np.std(values, ddof=1))
    with (output / "multi_split.csv").open() as handle:
        lines = list(csv.DictReader(handle))
    assert [line["split"] for line in lines] == ["1", "2", "mean", "std"]
    assert float(lines[2]["accuracy"]) == record["mean"]["accuracy"]
    assert "| split | random_state | seed | epochs | accuracy |" in out
    assert "| **mean ± std** (n = 2) |" in out


def test_report_names_the_rows_the_roc_auc_is_lost_on(
    tiny_model_dir: Path, tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = evaluate(
        capsys, "--model", tiny_model_dir, "--data", tiny_csv, "--output", tmp_path
    )
    assert code == 0, err
    record = json.loads((tmp_path / REPORT_JSON).read_text())
    lost = record["roc_auc_lost"]
    assert lost["misordered_pairs"] / lost["pairs"] == pytest.approx(
        1 - record["metrics"]["roc_auc"]
    )
    dataset, scorer = load_beats(tiny_csv), load_scorer(tiny_model_dir)
    for kind, is_normal in (("costliest_normal_beats", True), ("costliest_abnormal_beats", False)):
        for beat in lost[kind]:
            row = beat["row"] - 1  # counted from 1, as the data file's beats
            assert dataset.is_normal[row] == is_normal
            error = scorer.score(dataset.beats[row : row + 1]).errors[0]
            assert error == pytest.approx(beat["error"], rel=1e-5)  # float32, batch of one vs all
    assert f"row {lost['costliest_normal_beats'][0]['row']:>6}  error" in out
