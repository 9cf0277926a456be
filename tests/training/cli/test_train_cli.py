"""The `ecg-train` command line: help, and one-line errors with exit code 2 (no training here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from training.cli.options import config_from_args, fitting_options_given
from training.cli.train import build_parser, main
from training.config import DEFAULT_DENOISING_NOISE, TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[3]

OPTIONS = [
    "--data", "--output", "--epochs", "--batch-size", "--seed", "--threshold-k", "--hidden-units",
    "--activation", "--dropout", "--input-noise", "--learning-rate", "--validation-fraction",
    "--patience", "--quiet", "--threshold-rule", "--threshold-percentile", "--calibrate-for",
    "--target-false-alarm-rate", "--trim-fraction", "--trim-warmup", "--ensemble-size",
]  # fmt: skip


def test_help_documents_every_option_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    for option in OPTIONS:
        assert option in text
    documented = {action.dest for action in build_parser()._actions if action.help}
    assert documented >= {option[2:].replace("-", "_") for option in OPTIONS}
    assert text.count("(default:") >= len(OPTIONS) - 2  # --data and --output are required
    # options whose default depends on the kind of run say so in words, never "(default: None)"
    assert "(default: None)" not in text
    assert "default 15, for a recording baseline 0" in text  # --smoothing-window
    assert "(default: 1000)" in text  # --epochs


def test_data_error_exits_2_with_one_line_and_no_traceback(
    beat_files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = beat_files.replace_cell(beat_files.csv(), row=2, column=7, text="oops")
    output = tmp_path / "model"
    assert main(["--data", str(bad), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ecg-train: error: ")
    assert "row 2, column 7: 'oops' is not a number" in err
    assert "Traceback" not in err
    assert not output.exists()


def test_missing_data_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data", str(tmp_path / "absent.csv"), "--output", str(tmp_path / "m")])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option",
    [
        ["--hidden-units", "32,x"],
        ["--epochs", "0"],
        ["--validation-fraction", "1.5"],
        ["--threshold-rule", "median"],
        ["--threshold-percentile", "0"],
        ["--calibrate-for", "recall"],
        ["--target-false-alarm-rate", "1.5"],
        ["--trim-fraction", "1"],
        ["--trim-warmup", "0"],
        ["--ensemble-size", "0"],
        ["--architecture", "sparse,gru"],
        ["--architecture", "sparse,sparse"],
        ["--smoothing-window", "12"],
        ["--smoothing-window", "1"],
        ["--smoothing-polyorder", "-1"],
        ["--step-height", "-1"],
        ["--step-fraction", "1.5"],
    ],
)
def test_invalid_option_values_exit_2(
    option: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", "x.csv", "--output", str(tmp_path), *option]) == 2
    assert option[0] in capsys.readouterr().err


def test_an_output_that_is_not_a_model_directory_is_refused_before_training(
    beat_files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    assert main(["--data", str(beat_files.csv()), "--output", str(notes)]) == 2
    assert "not a model directory" in capsys.readouterr().err
    assert (notes / "todo.txt").read_text() == "keep me"


def test_module_entry_point_reports_data_errors_without_loading_tensorflow(
    beat_files, tmp_path: Path
) -> None:
    bad = beat_files.text("1,2,3\n")
    script = (
        "import sys; from training.cli.train import main; "
        f"code = main(['--data', {str(bad)!r}, '--output', {str(tmp_path / 'm')!r}]); "
        "print('tensorflow' in sys.modules); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout.strip() == "False"
    assert done.stderr.splitlines() == [
        f"ecg-train: error: {bad}: row 1 has 3 columns; the csv layout needs 141 "
        "(140 samples and a label)"
    ]


def test_several_architectures_make_a_mixed_ensemble_of_each() -> None:
    args = ["--data", "x.csv", "--output", "m", "--architecture", "sparse,denoising"]
    model = config_from_args(build_parser().parse_args([*args, "--ensemble-size", "2"])).model
    assert (model.label, model.mix, model.ensemble_size) == ("sparse+denoising", model.families, 4)
    members = [model.member(index) for index in range(model.ensemble_size)]
    assert [m.architecture for m in members] == ["sparse", "denoising", "sparse", "denoising"]
    # each member takes its own family's default noise
    assert [m.effective_input_noise for m in members[:2]] == [0.0, DEFAULT_DENOISING_NOISE]


def test_data_sets_are_scored_smoothed_and_recording_baselines_unsmoothed_by_default() -> None:
    args = build_parser().parse_args(["--data", "x.csv", "--output", "m"])
    assert config_from_args(args).smoothing_window == TrainConfig().smoothing_window > 0
    assert config_from_args(args, baseline=True).smoothing_window == 0
    asked = build_parser().parse_args(["--data", "x", "--output", "m", "--smoothing-window", "7"])
    assert config_from_args(asked, baseline=True).smoothing_window == 7


def test_data_sets_are_fitted_with_steps_and_recording_baselines_without_by_default() -> None:
    args = build_parser().parse_args(["--data", "x.csv", "--output", "m"])
    config = config_from_args(args)
    assert (config.step_height, config.step_fraction) == (3.0, 0.1)
    assert config_from_args(args, baseline=True).step_height == 0
    asked = build_parser().parse_args(["--data", "x", "--output", "m", "--step-height", "2"])
    assert config_from_args(asked, baseline=True).step_height == 2


def test_threshold_beats_are_shifted_further_than_the_fitted_ones_by_default() -> None:
    args = build_parser().parse_args(["--data", "x.csv", "--output", "m", "--max-shift", "3"])
    config = config_from_args(args)
    assert (config.max_shift, config.threshold_shift) == (3.0, 6.0)
    assert config_from_args(args, baseline=True).threshold_shift == 0.0
    asked = build_parser().parse_args(["--data", "x", "--output", "m", "--threshold-max-shift=2"])
    assert config_from_args(asked).threshold_shift == 2.0


def test_labelled_data_chooses_among_candidates_and_recording_baselines_fit_one() -> None:
    args = build_parser().parse_args(["--data", "x.csv", "--output", "m"])
    assert config_from_args(args).candidates == TrainConfig().candidates > 1
    assert config_from_args(args, baseline=True).candidates == 1
    asked = build_parser().parse_args(["--data", "x", "--output", "m", "--candidates", "2"])
    assert config_from_args(asked).candidates == 2


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--epochs", "5"], "--epochs"),
        (["--hidden-units", "64,32", "--seed", "1"], "--seed, --hidden-units"),
        (["--smoothing-window", "17"], "--smoothing-window"),
        (["--step-height", "3"], "--step-height"),
        (["--baseline", "0:10:00", "--lead", "MLII"], "--lead, --baseline"),
    ],
)
def test_from_model_refuses_options_that_shape_a_network(
    extra: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model"
    args = ["--data", "beats.csv", "--from-model", "models/ecg5000", "--output", str(output)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecg-train: error: --from-model keeps its model's network")
    assert f"{named} cannot go with it" in err
    assert not output.exists()


def test_from_model_needs_the_data_the_model_was_trained_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--recording", "100.hea", "--from-model", "models/ecg5000"]
    assert main([*args, "--output", str(tmp_path / "model")]) == 2
    assert "--recording/--recordings cannot go with it" in capsys.readouterr().err


def test_from_model_takes_the_threshold_options() -> None:
    threshold_options = ["--threshold-max-shift", "4", "--threshold-rule", "percentile"]
    args = build_parser().parse_args(
        ["--data", "d.csv", "--from-model", "m", "--output", "o", *threshold_options]
    )
    assert fitting_options_given(args) == []


def test_from_model_writes_over_the_model_it_reads(
    shipped_model_dir: Path, shipped_training_csv: Path, tmp_path: Path
) -> None:
    """In place, by another rule: the directory is replaced atomically by a model the service
    loads, with the same network and the new threshold."""
    from app.inference.artifact import ONNX_FILE, read_metadata

    model = Path(shutil.copytree(shipped_model_dir, tmp_path / "model"))
    before = read_metadata(model)
    args = ["--data", str(shipped_training_csv), "--from-model", str(model), "--output", str(model)]
    assert main([*args, "--threshold-rule", "calibrated"]) == 0
    after = read_metadata(model)
    assert after.threshold_rule.name == "calibrated"
    assert after.threshold != before.threshold
    assert after.files[ONNX_FILE] == before.files[ONNX_FILE]
    # the network's origin: the model it was trained as (or, taken again before, its own origin)
    assert after.training.network_from == (before.training.network_from or before.model_version)
