"""Loading data files: both real layouts are read, and every kind of bad file is refused clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from training.data.sources import (
    CACHE_DIR_ENV,
    CACHE_FILE,
    DEFAULT_URL,
    DataError,
    load_beats,
    load_data_arg,
    resolve_data_arg,
)

ECG_CSV_SHA256 = "c7013481f3ceb7d0689e1fda5128bb632c57a7548be62411505c2939772f66f3"


def refusal(path: Path, **kwargs: int) -> str:
    with pytest.raises(DataError) as caught:
        load_beats(path, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message


def test_loader_reads_the_comma_separated_layout_with_label_last(
    shipped_training_csv: Path,
) -> None:
    dataset = load_beats(shipped_training_csv)
    assert dataset.beats.shape == (5000, 140)
    assert dataset.beats.dtype == np.float32
    assert dataset.is_normal.dtype == np.bool_
    assert int(dataset.is_normal.sum()) == 2919
    assert dataset.layout == "csv"
    assert dataset.sha256 == ECG_CSV_SHA256
    assert dataset.source == shipped_training_csv.name  # the shared copy, or the downloaded one


def test_loader_reads_the_ucr_layout_with_class_first(ucr_train_txt: Path) -> None:
    dataset = load_beats(ucr_train_txt)
    assert dataset.beats.shape == (500, 140)
    assert int(dataset.is_normal.sum()) == 292
    assert dataset.layout == "ucr"


def test_both_layouts_give_the_same_beats_for_the_same_rows(
    ecg_csv: Path, ucr_train_txt: Path
) -> None:
    # The data README: rows 1-500 of ecg5000.csv are UCR's TRAIN split, in order.
    csv, ucr = load_beats(ecg_csv), load_beats(ucr_train_txt)
    np.testing.assert_allclose(csv.beats[:500], ucr.beats, atol=1e-6)
    np.testing.assert_array_equal(csv.is_normal[:500], ucr.is_normal)


def test_loader_reads_synthetic_ucr_classes_two_to_five_as_abnormal(beat_files) -> None:
    dataset = load_beats(beat_files.ucr([1, 2, 3, 4, 5, 1] * 4))
    assert dataset.is_normal.tolist() == [True, False, False, False, False, True] * 4


def test_loader_rejects_wrong_column_count_with_row_and_count(beat_files) -> None:
    path = beat_files.csv()
    lines = path.read_text().splitlines()
    lines[6] = lines[6].rsplit(",", 2)[0]  # drop two cells: 139 left
    path.write_text("\n".join(lines) + "\n")
    message = refusal(path)
    assert "row 7 has 139 columns" in message
    assert "needs 141" in message


def test_loader_rejects_non_numeric_cell_with_row_and_column(beat_files) -> None:
    path = beat_files.replace_cell(beat_files.csv(), row=12, column=57, text="0.5x")
    message = refusal(path)
    assert "row 12, column 57: '0.5x' is not a number" in message


def test_loader_rejects_a_corrupted_cell_of_the_real_file(ecg_csv: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copy(ecg_csv, tmp_path / "ecg.csv"))
    lines = copy.read_text().splitlines()
    cells = lines[4199].split(",")
    cells[2] = "n/a"
    lines[4199] = ",".join(cells)
    copy.write_text("\n".join(lines) + "\n")
    assert "row 4200, column 3: 'n/a' is not a number" in refusal(copy)


def test_loader_rejects_a_header_line_as_non_numeric(beat_files) -> None:
    path = beat_files.csv()
    header = ",".join(f"t{i}" for i in range(140)) + ",label"
    path.write_text(header + "\n" + path.read_text())
    assert "row 1, column 1: 't0' is not a number" in refusal(path)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_loader_rejects_non_finite_values_with_row_and_column(beat_files, text: str) -> None:
    path = beat_files.replace_cell(beat_files.csv(), row=3, column=10, text=text)
    message = refusal(path)
    assert "row 3, column 10: non-finite value" in message


def test_loader_rejects_a_csv_label_other_than_zero_or_one(beat_files) -> None:
    path = beat_files.replace_cell(beat_files.csv(), row=5, column=141, text="2")
    message = refusal(path)
    assert "row 5: label 2 is not valid" in message
    assert "1 (normal) or 0 (abnormal)" in message


@pytest.mark.parametrize("bad_class", [0, 6])
def test_loader_rejects_a_ucr_class_outside_one_to_five(beat_files, bad_class: int) -> None:
    classes = [1] * 25
    classes[20] = bad_class
    message = refusal(beat_files.ucr(classes))
    assert f"row 21: label {bad_class} is not valid" in message
    assert "class 1 (normal) to 5" in message


def test_loader_rejects_data_without_normal_beats(beat_files) -> None:
    message = refusal(beat_files.csv(n_normal=0, n_abnormal=30))
    assert "no normal beats" in message


def test_loader_rejects_too_few_rows_saying_how_many_are_needed(beat_files) -> None:
    message = refusal(beat_files.csv(n_normal=4, n_abnormal=1), min_rows=20)
    assert "only 5 data rows; at least 20 are needed" in message


def test_loader_rejects_an_empty_file(beat_files) -> None:
    assert "no data rows; at least 20 are needed" in refusal(beat_files.text("\n\n"))


def test_loader_rejects_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "beats.csv"
    path.write_bytes(bytes(range(256)))
    assert "not a text file" in refusal(path)


def test_loader_rejects_an_unknown_separator_as_a_column_count(beat_files) -> None:
    path = beat_files.csv()
    path.write_text(path.read_text().replace(",", ";"))
    assert "row 1 has 1 columns" in refusal(path)


def test_loader_skips_blank_lines_and_reports_file_line_numbers(beat_files) -> None:
    path = beat_files.csv()
    lines = path.read_text().splitlines()
    lines.insert(2, "")
    lines[9] = lines[9].replace(",", ",abc,", 1)
    path.write_text("\r\n".join(lines) + "\r\n")
    assert "row 10 has 142 columns" in refusal(path)
    lines[9] = lines[9].replace(",abc,", ",", 1)
    path.write_text("\r\n".join(lines) + "\r\n")
    assert load_beats(path).n_rows == 40


def test_resolve_data_arg_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        resolve_data_arg(str(tmp_path / "absent.csv"))


def test_resolve_data_arg_ecg5000_uses_the_cache_dir_from_the_environment(
    ecg_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    cached = Path(shutil.copy(ecg_csv, tmp_path / CACHE_FILE))
    assert resolve_data_arg("ecg5000") == cached  # already cached: no download is attempted
    assert load_data_arg("ecg5000").source == DEFAULT_URL
