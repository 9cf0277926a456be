"""`ecg-score`: offline scoring of a CSV file, against the service on the same file."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.score_cli import main

BIN_DIR = Path(sys.executable).parent


def write_beats_csv(path: Path, beats: np.ndarray, labels: list[str] | None = None) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([f"t{i}" for i in range(beats.shape[1])] + (["label"] if labels else []))
        for i, beat in enumerate(beats.tolist()):
            writer.writerow([repr(v) for v in beat] + ([labels[i]] if labels else []))
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


@pytest.fixture(scope="module")
def held_out(reference_test_split: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    beats, is_abnormal = reference_test_split
    return beats, ["abnormal" if flag else "normal" for flag in is_abnormal]


def test_ecg_score_gives_the_services_verdicts_row_for_row(
    client: TestClient, held_out, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beats, labels = held_out
    source = write_beats_csv(tmp_path / "beats.csv", beats, labels)
    output = tmp_path / "verdicts.csv"
    assert main([str(source), "--output", str(output), "--chunk-rows", "128"]) == 0
    rows = read_rows(output)
    served = client.post(
        "/v1/predict/csv", content=source.read_bytes(), headers={"content-type": "text/csv"}
    ).json()["results"]
    assert len(rows) == len(served) == 1000
    assert list(rows[0]) == ["index", "reconstruction_error", "is_anomaly", "verdict", "label"]
    assert [r["verdict"] for r in rows] == [r["verdict"] for r in served]
    assert [r["label"] for r in rows] == labels
    assert [int(r["index"]) for r in rows] == list(range(1000))
    errors = np.array([float(r["reconstruction_error"]) for r in rows])
    np.testing.assert_allclose(errors, [r["reconstruction_error"] for r in served], rtol=1e-6)
    abnormal = sum(r["verdict"] == "abnormal" for r in rows)
    assert f"1,000 rows scored, {abnormal:,} abnormal" in capsys.readouterr().out


def test_ecg_score_applies_a_threshold_as_the_service_does(
    client: TestClient, held_out, tmp_path: Path
) -> None:
    beats, _ = held_out
    source = write_beats_csv(tmp_path / "beats.csv", beats[:200])
    output = tmp_path / "verdicts.csv"
    assert main([str(source), "-o", str(output), "--threshold", "0.0170897"]) == 0
    served = client.post(
        "/v1/predict/csv?threshold=0.0170897",
        content=source.read_bytes(),
        headers={"content-type": "text/csv"},
    ).json()["results"]
    assert [r["verdict"] for r in read_rows(output)] == [r["verdict"] for r in served]


def _with_bad_rows(path: Path, beats: np.ndarray) -> Path:
    """Beats with a non-numeric cell on line 4 (the third beat) and a short row on line 7."""
    write_beats_csv(path, beats[:8])
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[9] = "oops"
    lines[3] = ",".join(cells)
    lines[6] = "0.1,0.2\n"
    path.write_text("".join(lines))
    return path


def test_ecg_score_stops_at_the_first_bad_row_with_exit_code_1(
    held_out, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _with_bad_rows(tmp_path / "bad.csv", held_out[0])
    output = tmp_path / "verdicts.csv"
    assert main([str(source), "--output", str(output)]) == 1
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    assert "line 4, column 10: is not a number ('oops')" in message
    assert not output.exists()
    assert not list(tmp_path.glob("verdicts.csv*"))


def test_ecg_score_skip_bad_scores_the_rest_and_lists_the_bad_rows(
    held_out, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _with_bad_rows(tmp_path / "bad.csv", held_out[0])
    output = tmp_path / "verdicts.csv"
    assert main([str(source), "--output", str(output), "--skip-bad", "--chunk-rows", "3"]) == 0
    assert [int(r["index"]) for r in read_rows(output)] == [0, 1, 3, 4, 6, 7]
    summary = capsys.readouterr().out
    assert "6 rows scored" in summary
    assert "2 bad rows skipped" in summary
    assert "skipped line 4, column 10" in summary
    assert "skipped line 7: has 2 columns" in summary


def test_ecg_score_refuses_a_file_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "latin1.csv"
    source.write_bytes(b"caf\xe9\n")
    assert main([str(source), "--output", str(tmp_path / "out.csv")]) == 1
    assert "byte offset 3" in capsys.readouterr().err


def test_ecg_score_resamples_on_request(held_out, tmp_path: Path) -> None:
    beats = held_out[0][:10]
    longer = np.stack([np.interp(np.linspace(0, 1, 200), np.linspace(0, 1, 140), b) for b in beats])
    source = write_beats_csv(tmp_path / "long.csv", longer.astype(np.float32))
    output = tmp_path / "verdicts.csv"
    assert main([str(source), "--output", str(output)]) == 1
    assert main([str(source), "--output", str(output), "--resample"]) == 0
    assert {r["resampled_from"] for r in read_rows(output)} == {"200"}


def test_ecg_score_runs_as_a_command_without_tensorflow(held_out, tmp_path: Path) -> None:
    source = write_beats_csv(tmp_path / "beats.csv", held_out[0][:20])
    output = tmp_path / "verdicts.csv"
    check = (
        "import sys; from app.score_cli import main; code = main(sys.argv[1:]); "
        "assert 'tensorflow' not in sys.modules; sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(source), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(read_rows(output)) == 20
    assert (BIN_DIR / "ecg-score").exists()
    assert io.StringIO(done.stdout).read().startswith(str(source))
