"""`ecg-evaluate --leaderboard`: every entry on the same splits, one table and one plot."""

from __future__ import annotations

import csv
import json
import os
import platform
from pathlib import Path

import pytest
import tensorflow as tf

from training.cli.evaluate import main
from training.evaluation.leaderboard import (
    LEADERBOARD_CSV,
    LEADERBOARD_JSON,
    LEADERBOARD_MD,
    LEADERBOARD_PNG,
)


def run_small_leaderboard(data: Path, output: Path, *extra: str) -> Path:
    """A family, a mixed ensemble and PCA on two splits, a few epochs each."""
    code = main([
        "--leaderboard", "--data", str(data), "--output", str(output), "--splits", "2",
        "--entries", "dense,sparse+dense,pca", "--epochs", "3", "--ensemble-size", "1",
        "--hidden-units", "16,8",
        "--max-shift", "2", "--threshold-rule", "calibrated", *extra,
    ])  # fmt: skip
    assert code == 0
    return output


@pytest.fixture(scope="module")
def leaderboard(tiny_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_small_leaderboard(tiny_csv, tmp_path_factory.mktemp("leaderboard"))


def test_leaderboard_writes_its_table_plot_and_records(leaderboard: Path) -> None:
    names = {path.name for path in leaderboard.iterdir()}
    assert names == {LEADERBOARD_CSV, LEADERBOARD_JSON, LEADERBOARD_MD, LEADERBOARD_PNG}
    assert (leaderboard / LEADERBOARD_PNG).read_bytes().startswith(b"\x89PNG")
    table = (leaderboard / LEADERBOARD_MD).read_text().splitlines()
    assert [line.split(" | ")[0] for line in table[2:]] == ["| dense", "| sparse+dense", "| pca"]
    assert "shift 2" in table[0] and "recall" in table[0] and "scoring beats/s" in table[0]
    assert "| strip |" in table[0]


def test_every_entry_runs_on_the_same_splits_and_seeds(leaderboard: Path) -> None:
    with (leaderboard / LEADERBOARD_CSV).open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    splits = {entry: [(r["random_state"], r["seed"]) for r in rows if r["entry"] == entry]
              for entry in ("dense", "sparse+dense", "pca")}  # fmt: skip
    assert splits["dense"] == splits["sparse+dense"] == splits["pca"] == [("21", "42"), ("1", "1")]
    for row in rows:
        for name in ("roc_auc", "accuracy", "recall", "calibrated_accuracy", "accuracy_shift_4"):
            assert 0.0 <= float(row[name]) <= 1.0
        assert float(row["beats_per_second"]) > 0
    assert all(int(r["onnx_bytes"]) > 0 for r in rows if r["entry"] != "pca")
    assert all(r["accuracy_strip"] == "nan" for r in rows if r["entry"] == "pca")  # no model dir
    parameters = {row["entry"]: int(row["parameters"]) for row in rows}
    assert parameters["sparse+dense"] == 2 * parameters["dense"]  # one autoencoder of each


def test_the_leaderboard_is_at_mean_plus_one_std_whatever_rule_is_given(leaderboard: Path) -> None:
    record = json.loads((leaderboard / LEADERBOARD_JSON).read_text())
    assert record["std_ddof"] == 1
    assert [summary["entry"] for summary in record["summaries"]] == ["dense", "sparse+dense", "pca"]
    assert all(summary["n_splits"] == 2 for summary in record["summaries"])


def test_leaderboard_records_the_processor_and_libraries_its_figures_come_from(
    leaderboard: Path,
) -> None:
    machine = json.loads((leaderboard / LEADERBOARD_JSON).read_text())["machine"]
    assert machine["processor"] and machine["architecture"] == platform.machine()
    assert machine["cpu_count"] == os.cpu_count()
    assert machine["libraries"]["tensorflow"] == tf.__version__


def test_leaderboard_in_two_processes_gives_the_same_figures(
    leaderboard: Path, tiny_csv: Path, tmp_path: Path
) -> None:
    parallel = run_small_leaderboard(tiny_csv, tmp_path, "--jobs", "2")
    serial_runs = json.loads((leaderboard / LEADERBOARD_JSON).read_text())["runs"]
    parallel_runs = json.loads((parallel / LEADERBOARD_JSON).read_text())["runs"]
    assert [(r["entry"], r["split"]) for r in parallel_runs] == [
        (r["entry"], r["split"]) for r in serial_runs
    ]
    for serial, in_parallel in zip(serial_runs, parallel_runs, strict=True):
        for name in ("roc_auc", "accuracy", "calibrated_accuracy", "accuracy_shift_2"):
            assert in_parallel[name] == pytest.approx(serial[name], abs=1e-6), name


def test_leaderboard_scores_a_strip_of_the_test_beats_through_the_recording_path(
    ecg_csv: Path, tmp_path: Path
) -> None:
    """Each family's test beats, joined into a 250 Hz strip, found, cut and scored as
    `POST /v1/recordings` does: the accuracy of the beats found, beside the shift columns."""
    code = main([
        "--leaderboard", "--data", str(ecg_csv), "--output", str(tmp_path), "--splits", "2",
        "--entries", "sparse,pca", "--epochs", "5", "--ensemble-size", "1", "--candidates", "1",
    ])  # fmt: skip
    assert code == 0
    record = json.loads((tmp_path / LEADERBOARD_JSON).read_text())
    strips = {(run["entry"], run["split"]): run["accuracy_strip"] for run in record["runs"]}
    assert strips[("pca", 1)] is None and strips[("pca", 2)] is None  # JSON null, never NaN
    for split in (1, 2):
        assert 0.6 < strips[("sparse", split)] <= 1.0  # all normal: 0.58 (a few epochs)
    summary = next(s for s in record["summaries"] if s["entry"] == "sparse")
    assert summary["mean"]["accuracy_strip"] == pytest.approx(
        (strips[("sparse", 1)] + strips[("sparse", 2)]) / 2
    )


def test_leaderboard_over_seeds_repeats_the_reference_split(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "--leaderboard", "--data", str(tiny_csv), "--output", str(tmp_path), "--seeds", "3",
        "--entries", "pca",
    ])  # fmt: skip
    assert code == 0
    with (tmp_path / LEADERBOARD_CSV).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["random_state"], r["seed"]) for r in rows] == [
        ("21", "42"),
        ("21", "43"),
        ("21", "44"),
    ]
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("split")]
    assert progress[-1].startswith("split 3/3 (random_state 21, seed 44) pca: ROC AUC")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--leaderboard", "--data", "x.csv"], "give --output DIR"),
        (["--leaderboard", "--data", "x.csv", "--output", "o", "--entries", "gru"], "expected"),
        (["--leaderboard", "--data", "x", "--output", "o", "--entries", "sparse+pca"], "expected"),
        (["--leaderboard", "--data", "x.csv", "--output", "o", "--k", "1"], "--k goes with"),
        (
            ["--leaderboard", "--data", "x.csv", "--output", "o", "--seeds", "3", "--splits", "5"],
            "not allowed with argument --seeds",
        ),
        (["--multi-split", "3", "--data", "x.csv", "--splits", "3"], "--splits goes with"),
        (
            ["--leaderboard", "--data", "x", "--output", "o", "--seeds", "3", "--seed-base", "7"],
            "--seed-base goes with --splits",
        ),
        (["--multi-split", "3", "--data", "x.csv", "--seeds", "3"], "--seeds goes with"),
    ],
)
def test_leaderboard_usage_errors_name_the_option(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err
